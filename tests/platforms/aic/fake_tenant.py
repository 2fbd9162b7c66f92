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
* ``edit_as_person(id, change)``: someone edits an object in the console (drift);
* reconciliations (§5): ``system_users[<connector>]`` is the source, ``links`` the repo's links; a recon
  assesses IDM's situations against ``managed/<realm>_user`` with the stored mapping's properties,
  ``userName`` correlation and policies, stays ``ACTIVE`` for ``recon_reads`` reads of ``recon/<id>``,
  then writes (nothing with ``analyze``, nothing once canceled); a CREATE without ``userName`` fails the
  entry (a required property); liveSync (§5.3) records a token first, then brings ``changed`` source ids.
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
_SW = re.compile(r'^(?P<attr>[A-Za-z_]+) sw "(?P<value>(?:[^"\\]|\\.)*)"$')
# IDM's engine defaults (sync/impl/Situation.java), for a stored mapping without a policy for one
_DEFAULTS = {"CONFIRMED": "UPDATE", "FOUND": "UPDATE", "ABSENT": "CREATE", "AMBIGUOUS": "EXCEPTION",
             "MISSING": "EXCEPTION", "SOURCE_MISSING": "EXCEPTION", "UNQUALIFIED": "DELETE", "UNASSIGNED": "EXCEPTION",
             "LINK_ONLY": "EXCEPTION", "SOURCE_IGNORED": "REPORT", "TARGET_IGNORED": "REPORT", "ALL_GONE": "NOREPORT",
             "FOUND_ALREADY_LINKED": "EXCEPTION"}


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
        self.system_users: dict[str, list[JsonObject]] = {}
        self.links: list[JsonObject] = []
        self.recons: dict[str, JsonObject] = {}
        self.entries: dict[str, list[JsonObject]] = {}
        self.repo: dict[str, JsonObject] = {}
        self.changed: list[str] = []  # source ids changed since the last liveSync token
        self.recon_reads = 1  # reads of recon/<id> that still answer ACTIVE
        self.on_recon_read: Callable[[JsonObject], None] | None = None  # e.g. a person's Ctrl-C mid-run
        self.triggered: list[str] = []
        self._pending: dict[str, tuple[int, Callable[[], None]]] = {}

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

    def delete_managed(self, path: str, *, if_match: str | None = None) -> bool:
        self.calls.append(f"DELETE /openidm/managed/{path}" + (f" If-Match: {if_match}" if if_match else ""))
        old = self.managed.get(path)
        if old is not None and if_match not in (None, "*") and old["_rev"] != if_match:
            raise PlatformError("Precondition Failed", status=412, path=f"/openidm/managed/{path}")
        return self.managed.pop(path, None) is not None

    def query_managed(self, object_type: str, query_filter: str, *, fields: Sequence[str] = (),
                      page_size: int = 100, sort_keys: Sequence[str] = ()) -> Iterator[JsonObject]:
        self.calls.append(f"GET /openidm/managed/{object_type}?_queryFilter=…")
        if query_filter == "true":
            match: Callable[[JsonObject], bool] = lambda body: True  # noqa: E731
        else:
            m = _EQ.match(query_filter) or _SW.match(query_filter)
            assert m is not None, f"the fake understands `attr eq|sw \"value\"` and true only, not {query_filter!r}"
            value = re.sub(r"\\(.)", r"\1", m["value"]).lower()
            attr, starts = m["attr"], " sw " in query_filter

            def match(body: JsonObject) -> bool:
                have = str(body.get(attr, "")).lower()
                return have.startswith(value) if starts else have == value
        found = [b for p, b in sorted(self.managed.items()) if p.startswith(f"{object_type}/") and match(b)]
        for key in reversed(sort_keys):
            found.sort(key=lambda b, k=key.lstrip("-"): str(b.get(k, "")).lower(), reverse=key.startswith("-"))
        yield from (copy.deepcopy(b) for b in found)

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
        for user in self.system_users.get(name, []):
            yield {k: v for k, v in copy.deepcopy(user).items() if not fields or k in fields or k == "_id"}

    # --- reconciliation (§5) ------------------------------------------------------------------------

    def _mapping(self, mapping: str) -> JsonObject:
        body = self.config.get(f"mapping/{mapping}")
        if body is None:
            raise PlatformError(f"No such mapping: {mapping}", status=409, path="/openidm/recon")
        return body

    def _assess(self, mapping: JsonObject, only: set[str] | None = None) -> list[tuple[JsonObject, Callable[[], None]]]:
        """(entry, what doing it writes) for every source (``only``: these ids) and, for a full run, every target."""
        name, realm = str(mapping["name"]), self.realm
        system = str(mapping["source"]).split("/")[1]
        policies = {**_DEFAULTS, **{p["situation"]: p["action"] for p in mapping.get("policies", [])}}
        links = {str(link["firstId"]): link for link in self.links if link["linkType"] == name}
        users = {str(u["_id"]): u for u in self.system_users.get(system, [])}
        targets = {p.split("/", 1)[1]: b for p, b in self.managed.items() if p.startswith(f"{realm}_user/")}
        out: list[tuple[JsonObject, Callable[[], None]]] = []

        def mapped(user: JsonObject) -> JsonObject:
            return {p["target"]: user[p["source"]] for p in mapping.get("properties", []) if p["source"] in user}

        def entry(situation: str, sid: str | None, tid: str | None, phase: str, user: JsonObject | None) -> None:
            action = policies[situation]
            status, message = ("FAILURE", f"situation {situation}") if action == "EXCEPTION" else ("SUCCESS", None)

            def do() -> None:
                if action == "CREATE" and user is not None:
                    props = mapped(user)
                    if not props.get("userName"):
                        raise ValueError("userName is required")
                    oid = str(uuid.uuid4())
                    self.managed[f"{realm}_user/{oid}"] = {**props, "_id": oid, "_rev": "1"}
                    self.links.append({"_id": str(uuid.uuid4()), "firstId": sid, "secondId": oid, "linkType": name,
                                       "linkQualifier": "default"})
                elif action == "UPDATE" and user is not None and tid is not None:
                    body = self.managed[f"{realm}_user/{tid}"]
                    body.update(mapped(user))
                    body["_rev"] = str(int(body["_rev"]) + 1)
                    if sid not in links:
                        self.links.append({"_id": str(uuid.uuid4()), "firstId": sid, "secondId": tid,
                                           "linkType": name, "linkQualifier": "default"})
                elif action in ("DELETE", "UNLINK"):
                    if action == "DELETE" and tid is not None:
                        self.managed.pop(f"{realm}_user/{tid}", None)
                    self.links[:] = [k for k in self.links if not (k["linkType"] == name and
                                                                  (k["firstId"] == sid or k["secondId"] == tid))]
            if action == "CREATE" and user is not None and not mapped(user).get("userName"):
                status, message = "FAILURE", "Policy validation failed: userName is required"
            out.append(({"sourceObjectId": f"system/{system}/User/{sid}" if sid else None,
                         "targetObjectId": f"managed/{realm}_user/{tid}" if tid else None, "situation": situation,
                         "action": action, "status": status, "message": message, "phase": phase,
                         "linkQualifier": "default"}, do))

        handled: set[str] = set()
        for sid, user in users.items():
            if only is not None and sid not in only:
                continue
            link = links.get(sid)
            if link is not None:
                tid = str(link["secondId"])
                handled.add(tid)
                entry("CONFIRMED" if tid in targets else "MISSING", sid, tid, "source", user)
                continue
            found = [t for t, b in targets.items() if str(b.get("userName", "")).lower()
                     == str(mapped(user).get("userName", "")).lower() and mapped(user).get("userName")]
            handled.update(found)
            situation = {0: "ABSENT", 1: "FOUND"}.get(len(found), "AMBIGUOUS")
            entry(situation, sid, found[0] if len(found) == 1 else None, "source", user)
        if only is None:
            for sid, link in links.items():
                tid = str(link["secondId"])
                if sid not in users and tid not in targets:
                    entry("LINK_ONLY", sid, tid, "target", None)
                elif sid not in users:
                    handled.add(tid)
                    entry("SOURCE_MISSING", sid, tid, "target", None)
        return out

    def start_recon(self, mapping: str, *, analyze: bool = False, persist_associations: bool = False,
                    body: JsonObject | None = None) -> JsonObject:
        flags = "".join(f"&{k}=true" for k, on in (("analyze", analyze), ("persistAssociations", persist_associations))
                        if on)
        self.calls.append(f"POST /openidm/recon?_action=recon&mapping={mapping}{flags}")
        stored = self._mapping(mapping)
        recon_id = str(uuid.uuid4())
        work = self._assess(stored)
        situations = dict.fromkeys(_DEFAULTS, 0)
        status = {"SUCCESS": 0, "FAILURE": 0}
        for item, _ in work:
            situations[item["situation"]] += 1
            status[item["status"]] += 1
        system = str(stored["source"]).split("/")[1]
        links = sum(1 for link in self.links if link["linkType"] == mapping)
        self.recons[recon_id] = {
            "_id": recon_id, "mapping": mapping, "state": "ACTIVE", "stage": "ACTIVE_READING_SOURCE",
            "stageDescription": "reading the source", "started": "2026-12-01T00:00:00.000Z", "ended": "",
            "progress": {"source": {"existing": {"processed": 0, "total": str(len(self.system_users.get(system, [])))}},
                         "target": {"existing": {"processed": 0, "total": "?"}, "created": 0},
                         "links": {"existing": {"processed": 0, "total": str(links)}, "created": 0}}}
        self.entries[recon_id] = [item for item, _ in work] if persist_associations else []
        if analyze:
            self.recons[recon_id]["analyze"] = True

        def finish() -> None:
            summary = self.recons[recon_id]
            if not analyze:
                for item, do in work:
                    if item["status"] == "SUCCESS":
                        do()
            summary.update(state="SUCCESS", stage="COMPLETED_SUCCESS", stageDescription="reconciliation completed.",
                           ended="2026-12-01T00:00:01.000Z", duration=1000, situationSummary=situations,
                           statusSummary=status)
            summary["progress"]["source"]["existing"]["processed"] = sum(1 for i, _ in work if i["phase"] == "source")
            summary["progress"]["target"]["existing"]["processed"] = sum(1 for i, _ in work if i["phase"] == "target")
        self._pending[recon_id] = (self.recon_reads, finish)
        return {"_id": recon_id, "state": "ACTIVE"}

    def read_recon(self, recon_id: str) -> JsonObject | None:
        self.calls.append(f"GET /openidm/recon/{recon_id}")
        summary = self.recons.get(recon_id)
        if summary is None:
            return None
        if self.on_recon_read is not None:
            self.on_recon_read(summary)
        if recon_id in self._pending:
            left, finish = self._pending[recon_id]
            if left <= 0:
                del self._pending[recon_id]
                finish()
            else:
                self._pending[recon_id] = (left - 1, finish)
        return copy.deepcopy(summary)

    def list_recons(self) -> list[JsonObject]:
        self.calls.append("GET /openidm/recon")
        return [copy.deepcopy(s) for s in self.recons.values()]

    def cancel_recon(self, recon_id: str) -> JsonObject | None:
        self.calls.append(f"POST /openidm/recon/{recon_id}?_action=cancel")
        summary = self.recons.get(recon_id)
        if summary is None:
            return None
        if self._pending.pop(recon_id, None) is not None:
            summary.update(state="CANCELED", stage="COMPLETED_CANCELED", stageDescription="reconciliation aborted.",
                           ended="2026-12-01T00:00:01.000Z")
        return {"_id": recon_id, "action": "cancel", "status": "SUCCESS"}

    def recon_entries(self, recon_id: str, query_filter: str = "true", *,
                      page_size: int = 100) -> Iterator[JsonObject]:
        self.calls.append(f"GET /openidm/recon/assoc/{recon_id}/entry")
        if recon_id not in self.entries:
            raise PlatformError("Not Found", status=404, path=f"/openidm/recon/assoc/{recon_id}/entry")
        wanted = dict(re.findall(r'(\w+) eq "([^"]*)"', query_filter))
        for item in self.entries[recon_id]:
            if all(str(item.get(k)) == v for k, v in wanted.items()):
                yield copy.deepcopy(item)

    def live_sync(self, system: str, object_type: str) -> JsonObject:
        self.calls.append(f"POST /openidm/system/{system}/{object_type}?_action=liveSync")
        key = f"synchronisation/pooledSyncStage/SYSTEM{system.upper()}{object_type.upper()}"
        stage = self.repo.get(key)
        if stage is None:  # the first call only records a token (no history replayed)
            self.changed.clear()
            stage = self.repo[key] = {"_id": key.rsplit("/", 1)[1], "_rev": "1", "connectorData": {"syncToken": 1}}
            return copy.deepcopy(stage)
        source = f"system/{system}/{object_type}"
        for mapping in [b for i, b in self.config.items() if i.startswith("mapping/") and b.get("source") == source]:
            for item, do in self._assess(mapping, only=set(self.changed)):
                if item["status"] == "SUCCESS":
                    do()
        if self.changed:
            stage["connectorData"]["syncToken"] += 1
            stage["_rev"] = str(int(stage["_rev"]) + 1)
        self.changed.clear()
        return copy.deepcopy(stage)

    def read_repo(self, path: str) -> JsonObject | None:
        self.calls.append(f"GET /openidm/repo/{path}")
        body = self.repo.get(path)
        return copy.deepcopy(body) if body is not None else None

    def list_links(self, mapping: str) -> Iterator[JsonObject]:
        self.calls.append(f"GET /openidm/repo/link?_queryFilter=linkType eq {mapping!r}")
        yield from (copy.deepcopy(link) for link in self.links if link["linkType"] == mapping)

    def list_jobs(self) -> list[JsonObject]:
        self.calls.append("GET /openidm/scheduler/job?_queryFilter=true")
        return [{"_id": i.removeprefix("schedule/"), "enabled": b.get("enabled"), "schedule": b.get("schedule"),
                 "nextRunDate": None} for i, b in sorted(self.config.items()) if i.startswith("schedule/")]

    def trigger_job(self, name: str) -> JsonObject:
        self.calls.append(f"POST /openidm/scheduler/job/{name}?_action=trigger")
        self.triggered.append(name)
        return {"success": True}

    def close(self) -> None:
        self.closed = True
