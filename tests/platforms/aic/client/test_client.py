"""``AicClient`` over real HTTPS against the fake tenant: paths, headers, bodies, paging, errors, retries."""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import Callable

import pytest

from controller.errors import PlatformAuthError, PlatformError, PlatformThrottled, RestartError
from controller.platforms.aic import AicClient, RequestLog, TenantApi
from tests.platforms.aic.client.conftest import DROP, TOKEN_PATH, FakeTenant, Recorded, Reply, Sleeps

MakeClient = Callable[..., AicClient]
SECRET_VALUE = "Sup3r-AIC-Entra-S3cret-9d2e"
SCHEDULE = "schedule/EWF Users to alpha_user"


@pytest.fixture
def client(make_client: MakeClient) -> AicClient:
    return make_client()


def _echo(status: int = 200) -> Callable[[Recorded], Reply]:
    return lambda request: (status, {}, request.json())


def test_the_client_is_a_tenant_api(client: AicClient, tenant: FakeTenant) -> None:
    assert isinstance(client, TenantApi)
    assert client.tenant_url == tenant.url and client.realm == "alpha"


def test_config_ids_keep_their_slash_and_encode_spaces(client: AicClient, tenant: FakeTenant) -> None:
    stored = {"_id": SCHEDULE, "enabled": True}
    tenant.route("GET", "/openidm/config/" + SCHEDULE, (200, {}, stored))
    assert client.read_config(SCHEDULE) == stored
    (sent,) = tenant.calls("GET", "/openidm/config/" + SCHEDULE)
    assert sent.raw_path == "/openidm/config/schedule/EWF%20Users%20to%20alpha_user"
    assert sent.headers["authorization"] == f"Bearer {tenant.issued[0]}"
    assert "accept-api-version" not in sent.headers  # none on /openidm


def test_a_missing_config_is_none_and_deleting_it_is_false(client: AicClient) -> None:
    assert client.read_config("mapping/nothing") is None
    assert client.delete_config("mapping/nothing") is False


def test_config_writes_wait_for_completion_and_return_the_echo(client: AicClient, tenant: FakeTenant) -> None:
    body = {"_id": "mapping/systemEntraUser_managedAlpha_user", "source": "system/Entra/User"}
    tenant.route("PUT", "/openidm/config/mapping/systemEntraUser_managedAlpha_user", _echo(201))
    tenant.route("DELETE", "/openidm/config/mapping/systemEntraUser_managedAlpha_user", (200, {}, body))
    assert client.put_config("mapping/systemEntraUser_managedAlpha_user", body) == body
    assert client.delete_config("mapping/systemEntraUser_managedAlpha_user") is True
    put, delete = tenant.calls("PUT")[0], tenant.calls("DELETE")[0]
    assert put.query == delete.query == {"waitForCompletion": "true"}
    assert put.json() == body and put.headers["content-type"] == "application/json"
    ids = {r.headers["x-forgerock-transactionid"] for r in tenant.calls() if r.path != TOKEN_PATH}
    assert len(ids) == 2  # one per request


def test_query_config_sends_an_id_prefix_filter(client: AicClient, tenant: FakeTenant) -> None:
    found = [{"_id": "mapping/a"}, {"_id": "mapping/b"}]
    tenant.route("GET", "/openidm/config", (200, {}, {"result": found, "resultCount": 2, "pagedResultsCookie": None}))
    assert client.query_config("mapping/") == found
    (sent,) = tenant.calls("GET", "/openidm/config")
    assert sent.query == {"_queryFilter": '_id sw "mapping/"'}
    assert "%20" in sent.raw_query and "+" not in sent.raw_query


def test_managed_queries_follow_the_cookie_until_it_is_empty(client: AicClient, tenant: FakeTenant) -> None:
    pages = {"": (["u1", "u2"], "c1"), "c1": (["u3", "u4"], "c2"), "c2": (["u5"], "")}

    def page(request: Recorded) -> Reply:
        ids, cookie = pages[request.query.get("_pagedResultsCookie", "")]
        return 200, {}, {"result": [{"_id": i, "_rev": "1"} for i in ids], "resultCount": len(ids),
                         "pagedResultsCookie": cookie, "totalPagedResults": -1}

    tenant.route("GET", "/openidm/managed/alpha_user", page)
    got = [o["_id"] for o in client.query_managed("alpha_user", 'userName eq "a b"', fields=["userName", "mail"],
                                                  page_size=2)]
    assert got == ["u1", "u2", "u3", "u4", "u5"]
    sent = tenant.calls("GET", "/openidm/managed/alpha_user")
    assert [r.query.get("_pagedResultsCookie") for r in sent] == [None, "c1", "c2"]
    assert sent[0].query == {"_queryFilter": 'userName eq "a b"', "_fields": "userName,mail", "_pageSize": "2"}


def test_system_queries_page_too_and_the_test_action_is_a_post(client: AicClient, tenant: FakeTenant) -> None:
    tenant.route("GET", "/openidm/system/Entra/User", lambda r: (200, {}, {
        "result": [{"_id": "x"}] if not r.query.get("_pagedResultsCookie") else [],
        "pagedResultsCookie": "fHwA" if not r.query.get("_pagedResultsCookie") else None}))
    tenant.route("POST", "/openidm/system/Entra", (200, {}, {"name": "Entra", "ok": True, "objectTypes": ["User"]}))
    assert list(client.query_system("Entra", "User", "true")) == [{"_id": "x"}]
    assert client.test_connector("Entra")["ok"] is True
    assert tenant.calls("POST", "/openidm/system/Entra")[0].query == {"_action": "test"}


def test_managed_writes_say_create_only_or_which_revision(client: AicClient, tenant: FakeTenant) -> None:
    path = "alpha_application/0f357b7e-6c54-4351-a094-43916877d7e5"
    tenant.route("GET", "/openidm/managed/" + path, (200, {}, {"_id": "0f35", "_rev": "3", "name": "Entra"}))
    tenant.route("PUT", "/openidm/managed/" + path, lambda r: (201, {}, {**r.json(), "_rev": "4"}))
    assert client.read_managed(path) == {"_id": "0f35", "_rev": "3", "name": "Entra"}
    client.put_managed(path, {"name": "Entra"}, create_only=True)
    client.put_managed(path, {"name": "Entra"}, if_match="3")
    create, replace = tenant.calls("PUT")
    assert create.headers["if-none-match"] == "*" and "if-match" not in create.headers
    assert replace.headers["if-match"] == "3" and "if-none-match" not in replace.headers
    assert tenant.calls("GET", "/openidm/managed/" + path)[0].query == {"_fields": "*,*_ref"}
    assert client.read_managed("alpha_application/gone") is None
    assert client.delete_managed("alpha_application/gone") is False


def test_a_412_is_one_line_with_the_path_and_what_to_do(client: AicClient, tenant: FakeTenant) -> None:
    tenant.route("PUT", "/openidm/managed/alpha_application/a1", (412, {}, {
        "code": 412, "reason": "Precondition Failed", "message": "Resource version does not match"}))
    with pytest.raises(PlatformError) as caught:
        client.put_managed("alpha_application/a1", {"name": "x"}, if_match="1")
    exc = caught.value
    assert (exc.status, exc.code, exc.path) == (412, "Precondition Failed", "/openidm/managed/alpha_application/a1")
    assert str(exc).startswith("AIC PUT /openidm/managed/alpha_application/a1: 412 Precondition Failed: "
                               "Resource version does not match. ")
    assert "idmctl plan" in str(exc) and "\n" not in str(exc)


def test_a_crest_403_names_the_scope_to_grant(client: AicClient, tenant: FakeTenant) -> None:
    tenant.route("GET", "/openidm/config/sync", (403, {}, {"code": 403, "reason": "Forbidden",
                                                            "message": "Access denied"}))
    with pytest.raises(PlatformError) as caught:
        client.read_config("sync")
    assert caught.value.message == "AIC GET /openidm/config/sync: 403 Forbidden: Access denied"
    assert caught.value.hint is not None and "fr:idm:*" in caught.value.hint


def test_esv_variables_are_sent_base64_with_the_environment_api_version(client: AicClient,
                                                                        tenant: FakeTenant) -> None:
    tenant.route("PUT", "/environment/variables/esv-idmctl-entra-tenant-id",
                 lambda r: (200, {}, {**r.json(), "_id": "esv-idmctl-entra-tenant-id", "loaded": False}))
    answer = client.put_variable("esv-idmctl-entra-tenant-id", value="711ffa9c-5972", description="tenant",
                                 expression_type="string")
    assert answer["loaded"] is False
    (sent,) = tenant.calls("PUT", "/environment/variables/esv-idmctl-entra-tenant-id")
    assert sent.json() == {"valueBase64": base64.b64encode(b"711ffa9c-5972").decode(), "description": "tenant",
                           "expressionType": "string"}
    assert sent.headers["accept-api-version"] == "protocol=1.0,resource=1.0"
    assert client.read_variable("esv-idmctl-entra-client-id") is None


def test_secrets_are_created_once_then_versioned(client: AicClient, tenant: FakeTenant) -> None:
    path = "/environment/secrets/esv-idmctl-entra-client-secret"
    tenant.route("PUT", path, (200, {}, {"_id": "esv-idmctl-entra-client-secret", "activeVersion": "1"}))
    tenant.route("POST", path + "/versions", (200, {}, {"loaded": False, "status": "ENABLED", "version": "2"}))
    client.create_secret("esv-idmctl-entra-client-secret", value=SECRET_VALUE, description="client secret",
                         encoding="generic", use_in_placeholders=True)
    assert client.add_secret_version("esv-idmctl-entra-client-secret", SECRET_VALUE)["version"] == "2"
    create, version = tenant.calls("PUT", path)[0], tenant.calls("POST", path + "/versions")[0]
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    assert create.json() == {"valueBase64": encoded, "description": "client secret", "encoding": "generic",
                             "useInPlaceholders": True}
    assert version.query == {"_action": "create"} and version.json() == {"valueBase64": encoded}


def test_no_secret_value_key_or_token_in_errors_or_logs(make_client: MakeClient, tenant: FakeTenant, key_pem: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    logged: list[RequestLog] = []
    client = make_client(connect_kw={"request_log": logged.append})
    path = "/environment/secrets/esv-idmctl-entra-client-secret"

    def refuse(request: Recorded) -> Reply:  # a tenant that repeats what it was sent, and the token
        said = f"cannot store {request.body.decode()} for {request.headers['authorization']}"
        return 400, {}, {"code": 400, "message": said}

    tenant.route("PUT", path, refuse)
    tenant.route("POST", path + "/versions", refuse)
    caplog.set_level(logging.DEBUG)
    raised: list[str] = []
    for attempt in (lambda: client.create_secret("esv-idmctl-entra-client-secret", value=SECRET_VALUE,
                                                 description="d", encoding="generic", use_in_placeholders=True),
                    lambda: client.add_secret_version("esv-idmctl-entra-client-secret", SECRET_VALUE)):
        with pytest.raises(PlatformError) as caught:
            attempt()
        raised.append(str(caught.value))
    assert "[redacted]" in raised[0]
    sent = tenant.calls("POST", TOKEN_PATH)[0].form()["assertion"]
    outputs = [*raised, caplog.text, *map(str, logged), repr(client), repr(client._tokens)]
    leaks = [SECRET_VALUE, base64.b64encode(SECRET_VALUE.encode()).decode(), *tenant.issued, sent,
             key_pem.splitlines()[5]]
    assert not [(leak, out) for leak in leaks for out in outputs if leak in out]
    assert str(logged[-1]) == "POST /environment/secrets/esv-idmctl-entra-client-secret/versions -> 400 (" + \
        str(logged[-1]).rsplit("(", 1)[1]


def test_a_401_mints_a_new_token_once_and_sends_again(client: AicClient, tenant: FakeTenant) -> None:
    tenant.route("GET", "/openidm/config/sync", (200, {}, {"_id": "sync", "mappings": []}))
    client.read_config("sync")
    tenant.revoke_tokens()  # refused before its stated expiry
    assert client.read_config("sync") == {"_id": "sync", "mappings": []}
    assert len(tenant.issued) == 2
    assert [r.headers["authorization"] for r in tenant.calls("GET", "/openidm/config/sync")] == [
        f"Bearer {tenant.issued[0]}", f"Bearer {tenant.issued[0]}", f"Bearer {tenant.issued[1]}"]


def test_a_second_401_gives_up(client: AicClient, tenant: FakeTenant) -> None:
    unauthorized = (401, {}, {"code": 401, "reason": "Unauthorized", "message": "Access Denied"})
    tenant.queue("GET", "/openidm/config/sync", unauthorized, unauthorized, unauthorized)
    with pytest.raises(PlatformAuthError) as caught:
        client.read_config("sync")
    assert caught.value.status == 401 and caught.value.path == "/openidm/config/sync"
    assert len(tenant.calls("GET", "/openidm/config/sync")) == 2 and len(tenant.issued) == 2
    assert caught.value.hint is not None and "Service accounts" in caught.value.hint


def test_throttling_is_retried_as_retry_after_says(client: AicClient, tenant: FakeTenant, sleeps: Sleeps) -> None:
    tenant.route("GET", "/environment/startup", (200, {}, {"restartStatus": "ready"}))
    busy = (503, {"Retry-After": "7"}, {"code": 503, "message": "Service Unavailable"})
    tenant.queue("GET", "/environment/startup", busy, (429, {"Retry-After": "3"}, None))
    assert client.restart_status() == "ready"
    assert sleeps == [7.0, 3.0]


def test_a_dropped_connection_is_retried_for_reads_but_never_for_a_restart(
        client: AicClient, tenant: FakeTenant, sleeps: Sleeps) -> None:
    tenant.route("GET", "/environment/startup", (200, {}, {"restartStatus": "ready"}))
    tenant.queue("GET", "/environment/startup", DROP)
    assert client.restart_status() == "ready"
    assert len(sleeps) == 1
    tenant.queue("POST", "/environment/startup", DROP)
    with pytest.raises(PlatformError) as caught:
        client.restart()  # it may have started: sending it again could be refused as already running
    assert caught.value.code == "NETWORK" and len(tenant.calls("POST", "/environment/startup")) == 1


def test_a_spent_budget_is_platform_throttled(make_client: MakeClient, tenant: FakeTenant, sleeps: Sleeps) -> None:
    client = make_client(maxRetryWaitSeconds=10)
    too_many = {"code": 429, "reason": "Too Many Requests"}
    tenant.route("GET", "/openidm/config/sync", (429, {"Retry-After": "4"}, too_many))
    with pytest.raises(PlatformThrottled) as caught:
        client.read_config("sync")
    exc = caught.value
    assert sleeps == [4.0, 4.0]
    assert (exc.status, exc.retry_after, exc.path) == (429, 4.0, "/openidm/config/sync")
    assert "maxRetryWaitSeconds" in str(exc) and "\n" not in str(exc)


def test_a_restart_while_one_runs_is_a_restart_error(client: AicClient, tenant: FakeTenant) -> None:
    tenant.route("GET", "/environment/startup", (200, {}, {"restartStatus": "restarting"}))
    with pytest.raises(RestartError) as caught:
        client.restart()
    assert caught.value.code == "RESTART_IN_PROGRESS"
    assert not tenant.calls("POST", "/environment/startup")


def test_a_restart_starts_when_ready(client: AicClient, tenant: FakeTenant) -> None:
    tenant.route("GET", "/environment/startup", (200, {}, {"restartStatus": "ready"}))
    tenant.route("POST", "/environment/startup", (200, {}, {"restartStatus": "restarting"}))
    assert client.restart() == "restarting"
    assert tenant.calls("POST", "/environment/startup")[0].query == {"_action": "restart"}


def test_a_tenant_whose_ca_is_not_trusted_is_a_tls_error(make_client: MakeClient) -> None:
    client = make_client(caBundle=None)
    with pytest.raises(PlatformError) as caught:
        client.read_config("sync")
    assert caught.value.code == "TLS" and "caBundle" in str(caught.value)


def test_a_missing_ca_bundle_file_is_said_before_any_request(make_client: MakeClient) -> None:
    with pytest.raises(PlatformError, match="caBundle 'nowhere.pem'|is not a readable file"):
        make_client(caBundle="nowhere.pem")


def test_an_unreachable_tenant_fails_at_once(make_client: MakeClient, sleeps: Sleeps) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(tenantUrl=f"https://127.0.0.1:{port}")
    with pytest.raises(PlatformError) as caught:
        client.read_config("sync")
    assert caught.value.code == "NETWORK" and "Nothing listens" in str(caught.value)
    assert sleeps == []


def test_a_console_url_counts_by_its_origin(make_client: MakeClient, tenant: FakeTenant) -> None:
    client = make_client(tenantUrl=tenant.url + "/platform/")
    assert client.tenant_url == tenant.url
    assert client.read_config("nothing") is None


def test_a_server_error_names_the_transaction_for_ping_support(client: AicClient, tenant: FakeTenant) -> None:
    tenant.route("PUT", "/openidm/config/schedule/x", (500, {}, {"code": 500, "reason": "Internal Server Error",
                                                                  "message": "Unexpected"}))
    with pytest.raises(PlatformError) as caught:
        client.put_config("schedule/x", {"enabled": True})
    sent = tenant.calls("PUT", "/openidm/config/schedule/x")[0]
    assert caught.value.hint is not None and sent.headers["x-forgerock-transactionid"] in caught.value.hint


def test_an_answer_that_is_not_json_says_the_url_is_not_a_tenant(client: AicClient, tenant: FakeTenant) -> None:
    tenant.route("GET", "/openidm/config/sync", (200, {}, b"<html>login</html>"))
    with pytest.raises(PlatformError) as caught:
        client.read_config("sync")
    assert caught.value.code == "NOT_JSON" and "tenantUrl" in str(caught.value)


def test_an_environment_error_body_keeps_the_tenants_message(client: AicClient, tenant: FakeTenant) -> None:
    tenant.route("PUT", "/environment/variables/esv-idmctl-entra-client-id", (400, {}, {
        "code": 400, "message": "Changing the type of an existing variable is not permitted"}))
    with pytest.raises(PlatformError) as caught:
        client.put_variable("esv-idmctl-entra-client-id", value="x", description="d", expression_type="list")
    exc = caught.value
    assert exc.message == ("AIC PUT /environment/variables/esv-idmctl-entra-client-id: 400 Bad Request: "
                           "Changing the type of an existing variable is not permitted")
    assert exc.hint is not None and "delete the variable" in exc.hint


# --- reconciliation, liveSync, links, the scheduler (§5) ---------------------------------------------------


def test_a_recon_starts_with_its_flags_once_and_is_read_and_canceled(client: AicClient, tenant: FakeTenant) -> None:
    tenant.route("POST", "/openidm/recon", (200, {}, {"_id": "r-1", "state": "ACTIVE"}))
    tenant.route("GET", "/openidm/recon/r-1", (200, {}, {"_id": "r-1", "state": "SUCCESS"}))
    tenant.route("POST", "/openidm/recon/r-1", (200, {}, {"_id": "r-1", "action": "cancel", "status": "SUCCESS"}))
    tenant.route("GET", "/openidm/recon", (200, {}, {"_id": "recon", "reconciliations": [{"_id": "r-1"}]}))
    assert client.start_recon("systemEntraUser_managedAlpha_user", analyze=True, persist_associations=True) == \
        {"_id": "r-1", "state": "ACTIVE"}
    (start,) = tenant.calls("POST", "/openidm/recon")
    assert start.query == {"_action": "recon", "mapping": "systemEntraUser_managedAlpha_user", "analyze": "true",
                           "persistAssociations": "true"}
    assert client.read_recon("r-1") == {"_id": "r-1", "state": "SUCCESS"}
    assert client.read_recon("r-2") is None
    assert client.list_recons() == [{"_id": "r-1"}]
    assert client.cancel_recon("r-1") == {"_id": "r-1", "action": "cancel", "status": "SUCCESS"}
    assert client.cancel_recon("r-2") is None  # 404: not (or no longer) known
    assert tenant.calls("POST", "/openidm/recon/r-1")[0].query == {"_action": "cancel"}


def test_a_dropped_recon_start_is_not_sent_again(client: AicClient, tenant: FakeTenant) -> None:
    tenant.queue("POST", "/openidm/recon", DROP)
    tenant.route("POST", "/openidm/recon", (200, {}, {"_id": "r-1", "state": "ACTIVE"}))
    with pytest.raises(PlatformError):
        client.start_recon("m")
    assert len(tenant.calls("POST", "/openidm/recon")) == 1  # a second start could run it twice


def test_association_entries_and_links_follow_the_cookie(client: AicClient, tenant: FakeTenant) -> None:
    def page(request: Recorded) -> Reply:
        cookie = request.query.get("_pagedResultsCookie", "")
        return 200, {}, {"result": [{"situation": "ABSENT", "n": cookie or "first"}],
                         "pagedResultsCookie": "" if cookie else "c1"}

    tenant.route("GET", "/openidm/recon/assoc/r-1/entry", page)
    tenant.route("GET", "/openidm/repo/link", (200, {}, {"result": [{"firstId": "s", "secondId": "t"}],
                                                          "pagedResultsCookie": None}))
    assert [e["n"] for e in client.recon_entries("r-1", 'status eq "FAILURE"', page_size=5)] == ["first", "c1"]
    assert tenant.calls("GET", "/openidm/recon/assoc/r-1/entry")[0].query == {
        "_queryFilter": 'status eq "FAILURE"', "_pageSize": "5"}
    assert list(client.list_links("systemEntraUser_managedAlpha_user")) == [{"firstId": "s", "secondId": "t"}]
    assert tenant.calls("GET", "/openidm/repo/link")[0].query["_queryFilter"] == \
        'linkType eq "systemEntraUser_managedAlpha_user"'


def test_live_sync_and_its_stage(client: AicClient, tenant: FakeTenant) -> None:
    stage = {"_id": "SYSTEMENTRAUSER", "_rev": "2", "connectorData": {"syncToken": "t2"}}
    tenant.route("POST", "/openidm/system/Entra/User", (200, {}, stage))
    tenant.route("GET", "/openidm/repo/synchronisation/pooledSyncStage/SYSTEMENTRAUSER", (200, {}, stage))
    assert client.live_sync("Entra", "User") == stage
    assert tenant.calls("POST", "/openidm/system/Entra/User")[0].query == {"_action": "liveSync"}
    assert client.read_repo("synchronisation/pooledSyncStage/SYSTEMENTRAUSER") == stage
    assert client.read_repo("synchronisation/pooledSyncStage/SYSTEMOTHERUSER") is None


def test_scheduler_jobs_are_listed_with_v2_and_triggered_with_no_version(client: AicClient,
                                                                         tenant: FakeTenant) -> None:
    tenant.route("GET", "/openidm/scheduler/job", (200, {}, {"result": [{"_id": "entra-incremental"}],
                                                               "pagedResultsCookie": None}))
    tenant.route("POST", "/openidm/scheduler/job/EWF Users to alpha_user", (200, {}, {"success": True}))
    assert client.list_jobs() == [{"_id": "entra-incremental"}]
    assert tenant.calls("GET", "/openidm/scheduler/job")[0].headers["accept-api-version"] == "resource=2.0"
    assert client.trigger_job("EWF Users to alpha_user") == {"success": True}
    (trigger,) = tenant.calls("POST", "/openidm/scheduler/job/EWF Users to alpha_user")
    assert trigger.query == {"_action": "trigger"} and "accept-api-version" not in trigger.headers
    assert trigger.raw_path == "/openidm/scheduler/job/EWF%20Users%20to%20alpha_user"


def test_an_identity_is_deleted_at_its_revision(client: AicClient, tenant: FakeTenant) -> None:
    tenant.route("DELETE", "/openidm/managed/alpha_user/u1", (200, {}, {"_id": "u1"}))
    assert client.delete_managed("alpha_user/u1", if_match="7") is True
    assert tenant.calls("DELETE", "/openidm/managed/alpha_user/u1")[0].headers["if-match"] == "7"


def test_identities_are_asked_for_in_user_name_order(client: AicClient, tenant: FakeTenant) -> None:
    tenant.route("GET", "/openidm/managed/alpha_user", (200, {}, {"result": [], "pagedResultsCookie": None}))
    assert list(client.query_managed("alpha_user", "true", sort_keys=("userName", "-givenName"))) == []
    assert tenant.calls("GET", "/openidm/managed/alpha_user")[0].query["_sortKeys"] == "userName,-givenName"
