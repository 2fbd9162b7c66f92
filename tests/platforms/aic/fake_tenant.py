"""An in-memory AIC tenant with AIC's semantics (``reference/aic-rest-api.md``), implementing ``TenantApi``.

It stands in for the HTTPS client in tests of the platform's plan and apply; end-to-end tests against
the AIC emulator cover the wire. What it keeps of AIC:

* config (§2.1): upsert PUT, no ``_rev``, stored verbatim; a plaintext ``clientSecret`` comes back ``$crypto``;
* ESVs (§4): variables and secrets with ``loaded``/``loadedVersion``; a secret PUT is create-only, a version
  identical to the latest is deduped, an ``expressionType`` never changes; values load only at a restart;
* the restart (§4.3): ``ready`` -> ``restarting`` for ``restart_reads`` status reads (None: never ends);
  refused while one runs;
* managed objects (§2.4, §6): ``_rev``, ``If-Match``/``If-None-Match``, relationships read back with
  ``_refResourceCollection``/``_refResourceId``/``_refProperties._id/_rev``;
* faults: ``lose_writes[id] = n`` drops the next n writes of an object (the PUT still answers 200);
* ``edit_as_person(id, change)``: someone edits an object in the console (drift).
"""

from __future__ import annotations

import base64
import copy
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from controller.backends import JsonObject
from controller.errors import PlatformError, RestartError

__all__ = ["APP_OWNER_ID", "FakeTenant"]

APP_OWNER_ID = "9b1c6a2e-5d4f-4e3a-8b7c-1f2e3d4c5b6a"
_PLACEHOLDER = re.compile(r"&\{esv\.([a-z0-9_.]+)\}")
_EQ = re.compile(r'^(?P<attr>[A-Za-z_]+) eq "(?P<value>(?:[^"\\]|\\.)*)"$')


class FakeTenant:
    """One tenant in memory. ``calls`` lists every request as "METHOD path" (no values)."""

    realm = "alpha"

    def __init__(self, tenant_url: str = "https://openam-acme-dev.forgeblocks.com") -> None:
        self.tenant_url = tenant_url
        self.config: dict[str, JsonObject] = {"sync": {"_id": "sync", "mappings": []}}
        self.variables: dict[str, JsonObject] = {}
        self.secrets: dict[str, JsonObject] = {}
        self.secret_values: dict[str, list[str]] = {}  # what a restart would load: the tenant's, not idmctl's
        self.managed: dict[str, JsonObject] = {
            f"alpha_user/{APP_OWNER_ID}": {"_id": APP_OWNER_ID, "_rev": "1", "userName": "app-owner",
                                           "givenName": "App", "sn": "Owner", "mail": "app-owner@example.com"}}
        self.status = "ready"
        self.restart_reads: int | None = 0  # status reads a restart takes (0: done by the first read)
        self._reads_left: int | None = 0
        self.restarts = 0
        self.lose_writes: dict[str, int] = {}
        self.connector_error: str | None = None  # the test's answer when set (e.g. AADSTS7000215)
        self.calls: list[str] = []
        self.closed = False

    # --- helpers ------------------------------------------------------------------------------------

    def _lost(self, native_id: str) -> bool:
        left = self.lose_writes.get(native_id, 0)
        if left:
            self.lose_writes[native_id] = left - 1
        return left > 0

    def edit_as_person(self, native_id: str, change: Callable[[JsonObject], None]) -> None:
        """Someone changes an object on the tenant (config id, ESV id or managed/<type>/<id>)."""
        if native_id in self.config:
            change(self.config[native_id])
        elif native_id in self.variables:
            change(self.variables[native_id])
        elif native_id.removeprefix("managed/") in self.managed:
            body = self.managed[native_id.removeprefix("managed/")]
            change(body)
            body["_rev"] = str(int(body["_rev"]) + 1)
        else:
            raise KeyError(native_id)

    def pending(self) -> list[str]:
        """ESVs a restart would load (§4.3)."""
        out = [i for i, v in self.variables.items() if not v["loaded"]]
        out += [i for i, s in self.secrets.items()
                if s["useInPlaceholders"] and s["loadedVersion"] != s["activeVersion"]]
        return sorted(out)

    # --- config -------------------------------------------------------------------------------------

    def read_config(self, config_id: str) -> JsonObject | None:
        self.calls.append(f"GET /openidm/config/{config_id}")
        body = self.config.get(config_id)
        return copy.deepcopy(body) if body is not None else None

    def query_config(self, id_prefix: str) -> list[JsonObject]:
        self.calls.append(f"GET /openidm/config?_queryFilter=_id sw {id_prefix!r}")
        return [copy.deepcopy(b) for i, b in sorted(self.config.items()) if i.startswith(id_prefix)]

    def put_config(self, config_id: str, body: JsonObject) -> JsonObject:
        self.calls.append(f"PUT /openidm/config/{config_id}?waitForCompletion=true")
        stored = copy.deepcopy(body)
        stored["_id"] = config_id
        props = stored.get("configurationProperties")
        if isinstance(props, dict) and isinstance(props.get("clientSecret"), str) \
                and not props["clientSecret"].startswith("&{"):
            props["clientSecret"] = {"$crypto": {"type": "x-simple-encryption", "value": {"data": "c2VjcmV0"}}}
        if not self._lost(config_id):
            self.config[config_id] = stored
        return copy.deepcopy(stored)

    def delete_config(self, config_id: str) -> bool:
        self.calls.append(f"DELETE /openidm/config/{config_id}")
        return self.config.pop(config_id, None) is not None

    # --- ESVs ---------------------------------------------------------------------------------------

    def read_variable(self, esv_id: str) -> JsonObject | None:
        self.calls.append(f"GET /environment/variables/{esv_id}")
        body = self.variables.get(esv_id)
        return copy.deepcopy(body) if body is not None else None

    def put_variable(self, esv_id: str, *, value: str, description: str, expression_type: str) -> JsonObject:
        self.calls.append(f"PUT /environment/variables/{esv_id}")
        old = self.variables.get(esv_id)
        if old is not None and old["expressionType"] != expression_type:
            raise PlatformError("Changing the type of an existing variable is not permitted", status=400,
                                path=f"/environment/variables/{esv_id}")
        body = {"_id": esv_id, "description": description, "expressionType": expression_type,
                "valueBase64": base64.b64encode(value.encode()).decode(), "loaded": False,
                "lastChangeDate": "2026-12-01T00:00:00Z", "lastChangedBy": "service-account"}
        if not self._lost(esv_id):
            self.variables[esv_id] = body
        return copy.deepcopy(body)

    def delete_variable(self, esv_id: str) -> bool:
        self.calls.append(f"DELETE /environment/variables/{esv_id}")
        return self.variables.pop(esv_id, None) is not None

    def read_secret(self, esv_id: str) -> JsonObject | None:
        self.calls.append(f"GET /environment/secrets/{esv_id}")
        body = self.secrets.get(esv_id)
        return copy.deepcopy(body) if body is not None else None

    def create_secret(self, esv_id: str, *, value: str, description: str, encoding: str,
                      use_in_placeholders: bool) -> JsonObject:
        self.calls.append(f"PUT /environment/secrets/{esv_id}")
        if esv_id in self.secrets:
            raise PlatformError("Failed to create secret, the secret already exists", status=400,
                                path=f"/environment/secrets/{esv_id}")
        body = {"_id": esv_id, "description": description, "encoding": encoding,
                "useInPlaceholders": use_in_placeholders, "activeVersion": "1",
                "loadedVersion": None if use_in_placeholders else "1", "loaded": not use_in_placeholders,
                "lastChangeDate": "2026-12-01T00:00:00Z", "lastChangedBy": "service-account"}
        self.secrets[esv_id] = body
        self.secret_values[esv_id] = [value]
        return copy.deepcopy(body)

    def add_secret_version(self, esv_id: str, value: str) -> JsonObject:
        self.calls.append(f"POST /environment/secrets/{esv_id}/versions?_action=create")
        if esv_id not in self.secrets:
            raise PlatformError("Failed to create secret version", status=404, path=f"/environment/secrets/{esv_id}")
        versions = self.secret_values[esv_id]
        if versions[-1] != value:  # AIC dedupes a value identical to the latest version
            versions.append(value)
            self.secrets[esv_id]["activeVersion"] = str(len(versions))
            self.secrets[esv_id]["loaded"] = False
        version = self.secrets[esv_id]["activeVersion"]
        return {"createDate": "2026-12-01T00:00:00Z", "loaded": False, "status": "ENABLED", "version": version}

    def delete_secret(self, esv_id: str) -> bool:
        self.calls.append(f"DELETE /environment/secrets/{esv_id}")
        self.secret_values.pop(esv_id, None)
        return self.secrets.pop(esv_id, None) is not None

    def restart_status(self) -> str:
        self.calls.append("GET /environment/startup")
        if self.status == "restarting" and self._reads_left is not None:
            if self._reads_left == 0:
                self._load()
            else:
                self._reads_left -= 1
        return self.status

    def _load(self) -> None:
        for variable in self.variables.values():
            variable["loaded"] = True
        for secret in self.secrets.values():
            secret["loadedVersion"], secret["loaded"] = secret["activeVersion"], True
        self.status = "ready"

    def restart(self) -> str:
        self.calls.append("POST /environment/startup?_action=restart")
        if self.status == "restarting":
            raise RestartError("Not ready! Current status: restarting", status=409, path="/environment/startup")
        self.status, self._reads_left = "restarting", self.restart_reads
        self.restarts += 1
        return self.status

    # --- managed objects ----------------------------------------------------------------------------

    def read_managed(self, path: str) -> JsonObject | None:
        self.calls.append(f"GET /openidm/managed/{path}?_fields=*")
        body = self.managed.get(path)
        if body is None:
            return None
        out = copy.deepcopy(body)
        for key, value in out.items():  # relationships as IDM returns them
            if isinstance(value, list):
                out[key] = [self._expanded(v) for v in value]
        return out

    @staticmethod
    def _expanded(item: Any) -> Any:
        if not isinstance(item, dict) or "_ref" not in item:
            return item
        collection, _, ref_id = str(item["_ref"]).rpartition("/")
        return {**item, "_refResourceCollection": collection, "_refResourceId": ref_id,
                "_refProperties": {**item.get("_refProperties", {}), "_id": str(uuid.uuid4()), "_rev": "0"}}

    def put_managed(self, path: str, body: JsonObject, *, if_match: str | None = None,
                    create_only: bool = False) -> JsonObject:
        self.calls.append(f"PUT /openidm/managed/{path}" + (" If-None-Match: *" if create_only else
                                                           f" If-Match: {if_match}" if if_match else ""))
        old = self.managed.get(path)
        if create_only and old is not None:
            raise PlatformError("Precondition Failed", status=412, path=f"/openidm/managed/{path}")
        if if_match not in (None, "*") and (old is None or old["_rev"] != if_match):
            raise PlatformError("Precondition Failed", status=412, path=f"/openidm/managed/{path}")
        stored = {**copy.deepcopy(body), "_id": path.rsplit("/", 1)[1],
                  "_rev": str(int(old["_rev"]) + 1) if old is not None else "1"}
        if not self._lost(f"managed/{path}"):
            self.managed[path] = stored
        return copy.deepcopy(stored)

    def delete_managed(self, path: str) -> bool:
        self.calls.append(f"DELETE /openidm/managed/{path}")
        return self.managed.pop(path, None) is not None

    def query_managed(self, object_type: str, query_filter: str, *, fields: Sequence[str] = (),
                      page_size: int = 100) -> Iterator[JsonObject]:
        self.calls.append(f"GET /openidm/managed/{object_type}?_queryFilter=…")
        m = _EQ.match(query_filter)
        assert m is not None, f"the fake understands `attr eq \"value\"` only, not {query_filter!r}"
        value = re.sub(r"\\(.)", r"\1", m["value"])
        for path, body in sorted(self.managed.items()):
            if path.startswith(f"{object_type}/") and str(body.get(m["attr"], "")).lower() == value.lower():
                yield copy.deepcopy(body)

    # --- systems ------------------------------------------------------------------------------------

    def test_connector(self, name: str) -> JsonObject:
        self.calls.append(f"POST /openidm/system/{name}?_action=test")
        config = self.config.get(f"provisioner.openicf/{name}")
        if config is None:
            return {"name": name, "ok": False, "error": "connector not available"}
        loaded = {i for i, v in self.variables.items() if v["loaded"]}
        loaded |= {i for i, s in self.secrets.items() if s["loadedVersion"] is not None}
        for placeholder in _PLACEHOLDER.findall(str(config.get("configurationProperties"))):
            if "esv-" + placeholder.replace(".", "-") not in loaded:
                return {"name": name, "ok": False, "error": f"Unable to resolve placeholder &{{esv.{placeholder}}}"}
        if self.connector_error is not None:
            return {"name": name, "ok": False, "error": self.connector_error}
        return {"name": name, "enabled": True, "config": f"config/provisioner.openicf/{name}", "ok": True,
                "objectTypes": ["User"]}

    def query_system(self, name: str, object_type: str, query_filter: str, *, fields: Sequence[str] = (),
                     page_size: int = 50) -> Iterator[JsonObject]:
        self.calls.append(f"GET /openidm/system/{name}/{object_type}")
        yield from ()

    def close(self) -> None:
        self.closed = True
