"""The MS Graph connector really calls the Graph it is given: a small fake here, and the project's emulator."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from controller.emulator import SAM_CARTER, Emulator
from controller.emulator.aic import AicEmulator
from tests.emulator.aic.conftest import Tenant, pinned, tenant_for

FAKE_TENANT = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
FAKE_CLIENT = "c0ffee00-1111-4222-8333-444455556666"
FAKE_SECRET = "fake-graph-s3cret~Q1"
USERS = [{"id": f"a000000{i}-0000-4000-8000-00000000000{i}", "userPrincipalName": f"u{i}@fake.example",
          "mail": f"u{i}@example.com", "givenName": f"U{i}", "surname": "Fake", "accountEnabled": i != 2}
         for i in range(5)]


class FakeGraph:
    """Microsoft's login and Graph users, just enough: a token for one app, two pages of users, a log."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {u["id"]: dict(u) for u in USERS}
        self.changes: list[str] = []  # user ids, in change order (the delta log)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                fake.requests.append({"method": "POST", "path": self.path, "form": form})
                if self.path != f"/{FAKE_TENANT}/oauth2/v2.0/token":
                    self.reply(400, {"error": "invalid_request", "error_description": "AADSTS90002: Tenant not found."})
                elif form.get("client_id") != FAKE_CLIENT or form.get("client_secret") != FAKE_SECRET:
                    self.reply(401, {"error": "invalid_client", "error_description":
                                     "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"})
                else:
                    self.reply(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": "fake-graph-token"})

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append({"method": "GET", "path": url.path, "query": query,
                                      "authorization": self.headers.get("Authorization")})
                if self.headers.get("Authorization") != "Bearer fake-graph-token":
                    self.reply(401, {"error": {"code": "InvalidAuthenticationToken", "message": "no"}})
                    return
                select = query.get("$select", "").split(",") if query.get("$select") else None
                if url.path == "/v1.0/users/delta":  # every change since the token, in one page
                    since = len(fake.changes) if query.get("$deltatoken") == "latest" else int(query["$deltatoken"])
                    items = [fake.by_id.get(i, {"id": i, "@removed": {"reason": "deleted"}})
                             for i in dict.fromkeys(fake.changes[since:])]
                    self.reply(200, {"value": items, "@odata.deltaLink":
                                     f"{fake.url}/v1.0/users/delta?$deltatoken={len(fake.changes)}"})
                    return
                if url.path.startswith("/v1.0/users/"):
                    found = fake.by_id.get(url.path.rsplit("/", 1)[1])
                    self.reply(200 if found else 404, found or {"error": {"code": "Request_ResourceNotFound",
                                                                          "message": "gone"}})
                    return
                start = int(query.get("$skiptoken", "0"))
                top = min(int(query.get("$top", "100")), 3)  # small pages, so the connector must page
                users = list(fake.by_id.values())
                page = [{k: v for k, v in u.items() if select is None or k in select} for u in users[start:start + top]]
                body: dict[str, Any] = {"value": page}
                if start + top < len(users):
                    body["@odata.nextLink"] = f"{fake.url}/v1.0/users?$top={top}&$skiptoken={start + top}" + (
                        f"&$select={query['$select']}" if select else "")
                self.reply(200, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def change(self, user_id: str, **props: Any) -> None:
        self.by_id[user_id].update(props)
        self.changes.append(user_id)

    def remove(self, user_id: str) -> None:
        del self.by_id[user_id]
        self.changes.append(user_id)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_graph() -> Iterator[FakeGraph]:
    fake = FakeGraph()
    yield fake
    fake.close()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def entra_connector() -> dict[str, Any]:
    """The connector as idmctl renders it: ESV placeholders, the MS Graph connectorRef, a User type."""
    props = {name: {"nativeName": name, "nativeType": "string", "type": "string"}
             for name in ("userPrincipalName", "mail", "givenName", "surname")}
    props["accountEnabled"] = {"nativeName": "accountEnabled", "nativeType": "boolean", "type": "boolean"}
    props["memberOf"] = {"type": "array", "flags": ["NOT_RETURNED_BY_DEFAULT"]}
    return {"connectorRef": {"bundleName": "org.forgerock.openicf.connectors.msgraphapi-connector",
                             "bundleVersion": "[1.5.0.0,1.6.0.0)", "displayName": "MSGraphAPI Connector",
                             "connectorName": "org.forgerock.openicf.connectors.msgraphapi.MSGraphAPIConnector",
                             "systemType": "provisioner.openicf"},
            "enabled": True,
            "configurationProperties": {"tenant": "&{esv.idmctl.entra.tenant.id}",
                                        "clientId": "&{esv.idmctl.entra.client.id}",
                                        "clientSecret": "&{esv.idmctl.entra.client.secret}",
                                        "performHardDelete": True, "httpProxyHost": None},
            "objectTypes": {"User": {"$schema": "http://json-schema.org/draft-03/schema", "id": "__ACCOUNT__",
                                     "nativeType": "__ACCOUNT__", "type": "object", "properties": props}}}


def configure(tenant: Tenant, tenant_id: str, client_id: str, secret: str) -> None:
    """What idmctl's apply does, in order: ESVs, (the caller restarts), the connector."""
    for name, value in (("tenant-id", tenant_id), ("client-id", client_id)):
        assert tenant.put(f"/environment/variables/esv-idmctl-entra-{name}", {"valueBase64": b64(value)}).ok
    assert tenant.put("/environment/secrets/esv-idmctl-entra-client-secret",
                      {"valueBase64": b64(secret), "encoding": "generic", "useInPlaceholders": True}).ok
    assert tenant.put("/openidm/config/provisioner.openicf/Entra?waitForCompletion=true", entra_connector()).ok


def test_connector_test_and_query_call_the_graph_they_are_given(tmp_path: Path, fake_graph: FakeGraph) -> None:
    with AicEmulator(tmp_path, restart_seconds=0, entra_login=fake_graph.url, entra_graph=fake_graph.url) as emu, \
            pinned(emu) as session:
        tenant = tenant_for(emu, session)
        configure(tenant, FAKE_TENANT, FAKE_CLIENT, FAKE_SECRET)

        pending = tenant.post("/openidm/system/Entra?_action=test").json()
        assert pending["ok"] is False and "&{esv.idmctl.entra.client.secret}" in pending["error"]
        assert fake_graph.requests == []  # nothing resolved yet: Microsoft is not called

        tenant.post("/environment/startup?_action=restart")
        status = tenant.post("/openidm/system/Entra?_action=test")
        assert status.status_code == 200
        assert status.json() == {"name": "Entra", "enabled": True, "config": "config/provisioner.openicf/Entra",
                                 "connectorRef": entra_connector()["connectorRef"],
                                 "displayName": "MSGraphAPI Connector", "objectTypes": ["__ACCOUNT__", "__ALL__"],
                                 "ok": True}
        token_call = fake_graph.requests[0]
        assert token_call["path"] == f"/{FAKE_TENANT}/oauth2/v2.0/token"
        assert token_call["form"] == {"grant_type": "client_credentials", "client_id": FAKE_CLIENT,
                                      "client_secret": FAKE_SECRET, "scope": f"{fake_graph.url}/.default"}
        assert fake_graph.requests[1]["path"] == "/v1.0/users"
        assert fake_graph.requests[1]["authorization"] == "Bearer fake-graph-token"
        assert [s["ok"] for s in tenant.post("/openidm/system?_action=test").json()] == [True]

        fake_graph.requests.clear()
        seen: list[dict[str, Any]] = []
        params: dict[str, Any] = {"_queryFilter": 'mail co "example.com" and !(accountEnabled eq false)',
                                  "_pageSize": 2, "_fields": "userPrincipalName,mail"}
        while True:
            page = tenant.get("/openidm/system/Entra/User", params=params)
            assert page.status_code == 200, page.text
            seen += page.json()["result"]
            if not page.json()["pagedResultsCookie"]:
                break
            params["_pagedResultsCookie"] = page.json()["pagedResultsCookie"]
        assert [u["_id"] for u in seen] == [u["id"] for u in USERS if u["accountEnabled"]]
        assert all(set(u) == {"_id", "userPrincipalName", "mail"} for u in seen)
        graph_pages = [r for r in fake_graph.requests if r["method"] == "GET"]
        assert any("$skiptoken" in r["query"] for r in graph_pages)  # it followed @odata.nextLink
        assert set(graph_pages[0]["query"]["$select"].split(",")) == {
            "id", "userPrincipalName", "mail", "givenName", "surname", "accountEnabled"}

        one = tenant.get(f"/openidm/system/Entra/User/{USERS[3]['id']}").json()
        assert one == {"_id": USERS[3]["id"], "userPrincipalName": "u3@fake.example", "mail": "u3@example.com",
                       "givenName": "U3", "surname": "Fake", "accountEnabled": True}


def test_a_refused_secret_and_an_unreachable_graph_are_not_ok(tmp_path: Path, fake_graph: FakeGraph) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with AicEmulator(tmp_path, restart_seconds=0, entra_login=fake_graph.url, entra_graph=fake_graph.url) as emu, \
            pinned(emu) as session:
        tenant = tenant_for(emu, session)
        configure(tenant, FAKE_TENANT, FAKE_CLIENT, "the-wrong-secret")
        tenant.post("/environment/startup?_action=restart")
        refused = tenant.post("/openidm/system/Entra?_action=test").json()
        assert refused["ok"] is False and refused["error"].endswith("AADSTS7000215: Invalid client secret provided.")
        assert "the-wrong-secret" not in json.dumps(refused)
        query = tenant.get("/openidm/system/Entra/User?_queryFilter=true")
        assert query.status_code == 503 and "AADSTS7000215" in query.json()["message"]
        assert query.json()["reason"] == "Service Unavailable"

        emu.graph.login_url = emu.graph.graph_url = closed
        unreachable = tenant.post("/openidm/system/Entra?_action=test").json()
        assert unreachable["ok"] is False and "Unable to reach" in unreachable["error"]
        assert tenant.post("/openidm/system/Nope?_action=test").status_code == 404


def test_against_the_projects_graph_emulator(aic_with_graph: AicEmulator, emulator: Emulator) -> None:
    with pinned(aic_with_graph) as session:
        tenant = tenant_for(aic_with_graph, session)
        configure(tenant, emulator.tenant_id, emulator.client_id, emulator.client_secret)
        tenant.post("/environment/startup?_action=restart")
        status = tenant.post("/openidm/system/Entra?_action=test").json()
        assert status["ok"] is True, status
        found = tenant.get("/openidm/system/Entra/User", params={
            "_queryFilter": f'userPrincipalName eq "{SAM_CARTER["userPrincipalName"]}"'}).json()
        assert found["result"] == [{"_id": SAM_CARTER["id"], "userPrincipalName": SAM_CARTER["userPrincipalName"],
                                    "mail": "scarter@example.com", "givenName": "Sam", "surname": "Carter",
                                    "accountEnabled": True}]
        everyone = tenant.get("/openidm/system/Entra/User?_queryFilter=true&_fields=mail").json()
        assert len(everyone["result"]) == 33


def test_a_plaintext_secret_in_the_connector_is_decrypted_for_microsoft(tmp_path: Path,
                                                                        fake_graph: FakeGraph) -> None:
    with AicEmulator(tmp_path, entra_login=fake_graph.url, entra_graph=fake_graph.url) as emu, \
            pinned(emu) as session:
        tenant = tenant_for(emu, session)
        body = entra_connector()
        body["configurationProperties"].update(tenant=FAKE_TENANT, clientId=FAKE_CLIENT, clientSecret=FAKE_SECRET)
        stored = tenant.put("/openidm/config/provisioner.openicf/Entra", body).json()
        assert "$crypto" in stored["configurationProperties"]["clientSecret"]
        assert tenant.post("/openidm/system/Entra?_action=test").json()["ok"] is True
        assert fake_graph.requests[0]["form"]["client_secret"] == FAKE_SECRET


def test_without_a_trusted_ca_tls_to_graph_fails_cleanly(tmp_path: Path, emulator: Emulator) -> None:
    with AicEmulator(tmp_path, entra_login=emulator.base_url, entra_graph=emulator.graph_url) as emu, \
            pinned(emu) as session:
        tenant = tenant_for(emu, session)
        body = entra_connector()
        body["configurationProperties"].update(tenant=emulator.tenant_id, clientId=emulator.client_id,
                                               clientSecret=emulator.client_secret)
        tenant.put("/openidm/config/provisioner.openicf/Entra", body)
        status = tenant.post("/openidm/system/Entra?_action=test").json()
        assert status["ok"] is False and "--entra-ca" in status["error"]


def test_unknown_object_types_and_connectors(tenant: Tenant, session: requests.Session) -> None:
    tenant.put("/openidm/config/provisioner.openicf/Entra", entra_connector())
    assert tenant.get("/openidm/system/Entra/Group?_queryFilter=true").status_code == 404
    assert tenant.get("/openidm/system/Other/User?_queryFilter=true").status_code == 404
