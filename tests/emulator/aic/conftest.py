"""Helpers for AIC emulator tests: a session pinned to its CA, service-account JWTs minted as a client does."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import pytest
import requests

from controller.emulator.aic import AicEmulator

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def pinned(emu: AicEmulator) -> requests.Session:
    session = requests.Session()
    session.verify = str(emu.ca_path)
    session.trust_env = False
    return session


def mint(emu: AicEmulator, *, key: Any = None, aud: str | None = None, lifetime: int = 180,
         headers: dict[str, Any] | None = None, **claims: Any) -> str:
    """An RS256 assertion signed with the private JWK the emulator wrote (no kid), as frodo builds it."""
    if key is None:
        key = jwt.PyJWK(json.loads(emu.service_account_jwk_path.read_text()), algorithm="RS256").key
    now = int(time.time())
    body = {"iss": emu.service_account_id, "sub": emu.service_account_id, "aud": aud or emu.token_url,
            "exp": now + lifetime, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="RS256", headers=headers)


def token_request(emu: AicEmulator, session: requests.Session, assertion: str, scope: str | None = "fr:idm:*",
                  **extra: Any) -> requests.Response:
    form = {"grant_type": JWT_BEARER, "client_id": "service-account", "assertion": assertion}
    if scope is not None:
        form["scope"] = scope
    form.update(extra.pop("form", {}))
    return session.post(emu.token_url, data=form, timeout=30, **extra)


class Tenant:
    """A bare AIC caller: a bearer token and paths relative to the tenant URL."""

    def __init__(self, emu: AicEmulator, session: requests.Session, token: str) -> None:
        self.emu, self.session, self.token = emu, session, token

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        return self.session.request(method, f"{self.emu.base_url}{path}", headers=headers, timeout=60, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.request("PUT", path, json=body, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def admin(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, f"{self.emu.base_url}/_emulator/{path}", json=body, timeout=30,
                                    headers=self.emu.admin_headers())


def tenant_for(emu: AicEmulator, session: requests.Session, scope: str = "fr:idm:* fr:idc:esv:*") -> Tenant:
    resp = token_request(emu, session, mint(emu), scope)
    assert resp.status_code == 200, resp.text
    return Tenant(emu, session, resp.json()["access_token"])


@pytest.fixture
def session(aic_emulator: AicEmulator) -> Any:
    with pinned(aic_emulator) as s:
        yield s


@pytest.fixture
def tenant(aic_emulator: AicEmulator, session: requests.Session) -> Tenant:
    """The service account with fr:idm:* and fr:idc:esv:* (what idmctl asks for)."""
    return tenant_for(aic_emulator, session)


# -- the seed's objects as idmctl renders them, and runs to wait for ---------------------------------------
SEED_MAPPING = "systemEntraUser_managedAlpha_user"


def rendered_seed(**mapping_changes: Any) -> dict[str, dict[str, Any]]:
    """``environments/demo-aic`` rendered by the product (tests only: the emulator shares no code with it),
    the ``entra-users`` mapping's spec changed by ``mapping_changes`` (e.g. ``sourceFilter=None``)."""
    from controller.config import ResourceSet, load_environment
    from controller.config.models import MappingResource
    from controller.platforms.aic import render_resources
    from tests.conftest import REPO

    resources = load_environment(REPO, "demo-aic").resources
    if mapping_changes:
        data = resources.mappings["entra-users"].model_dump(mode="json", by_alias=True)
        data["spec"].update(mapping_changes)
        resources = ResourceSet(environment=resources.environment, connectors=resources.connectors,
                                applications=resources.applications,
                                mappings={"entra-users": MappingResource.model_validate(data)},
                                schedules=resources.schedules, root=resources.root)
    return {o.id: o.body for o in render_resources(resources).objects if o.kind in ("connector", "mapping",
                                                                                   "schedule")}


def apply_seed(tenant: Tenant, tenant_id: str, client_id: str, secret: str,
               objects: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """What idmctl's apply does: ESVs, the restart, then the connector and mapping (schedules: the caller)."""
    import base64

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    objects = objects if objects is not None else rendered_seed()
    for name, value in (("tenant-id", tenant_id), ("client-id", client_id)):
        assert tenant.put(f"/environment/variables/esv-idmctl-entra-{name}", {"valueBase64": b64(value)}).ok
    assert tenant.put("/environment/secrets/esv-idmctl-entra-client-secret",
                      {"valueBase64": b64(secret), "encoding": "generic", "useInPlaceholders": True}).ok
    assert tenant.post("/environment/startup?_action=restart").ok
    for object_id, body in objects.items():
        if not object_id.startswith("schedule/"):
            assert tenant.put(f"/openidm/config/{object_id}?waitForCompletion=true", body).ok
    return objects


def wait_for(check: Any, what: str, bound: float = 60.0) -> Any:
    """Poll ``check()`` until it returns something truthy (a generous bound, not a timed assertion)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {bound:.0f}s")


def finished(tenant: Tenant, recon_id: str) -> dict[str, Any]:
    """The recon's summary once it is no longer ACTIVE."""
    def done() -> dict[str, Any] | None:
        summary: dict[str, Any] = tenant.get(f"/openidm/recon/{recon_id}").json()
        return summary if summary["state"] != "ACTIVE" else None
    result: dict[str, Any] = wait_for(done, f"recon {recon_id}")
    return result


@contextmanager
def seeded_tenant(emu: AicEmulator, graph: Any, objects: dict[str, dict[str, Any]] | None = None) -> Iterator[Tenant]:
    """A caller of ``emu`` with the seed applied (``objects``, default ``rendered_seed()``), its connector
    reading ``graph`` (the Graph emulator: its tenant id, client id and secret go into the ESVs)."""
    with pinned(emu) as session:
        tenant = tenant_for(emu, session)
        apply_seed(tenant, graph.tenant_id, graph.client_id, graph.client_secret, objects)
        yield tenant
