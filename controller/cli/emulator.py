"""`idmctl emulator`: run the local Entra login + Graph emulator (no subcommand), or drive a running one.

The subcommands (`info`, `users ...`, `faults ...`, `delta expire`, `apps add`) call the running
emulator's admin API (``/_emulator/...``) with the admin token from ``<state-dir>/admin_token``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from controller._startup import start_work
from controller.cli._catalog import summary
from controller.cli._common import JsonOpt, QuietOpt, make_output, with_output
from controller.cli._output import Output
from controller.emulator import Control, Emulator, Fault, serve
from controller.emulator.aic import (
    DEFAULT_AIC_PORT,
    DEFAULT_AIC_STATE_DIR,
    DEFAULT_SERVICE_ACCOUNT_ID,
    AicEmulator,
    AicFault,
    serve_aic,
)
from controller.errors import UsageError

__all__ = ["register"]

StateDirOpt = Annotated[Path, typer.Option(
    "--state-dir", help="The running emulator's state directory (where emulator.json and admin_token are).")]
_DEFAULT_STATE = Path(".emulator")


def _show_user(out: Output, user: dict[str, Any], verb: str) -> int:
    if out.json_mode:
        out.json(user)
        return 0
    out.print(f"{verb} {escape(str(user.get('userPrincipalName')))} (id {user.get('id')})")
    for key in ("displayName", "givenName", "surname", "mail", "accountEnabled"):
        if key in user:
            out.print(f"  {key}: {escape(str(user[key]))}")
    return 0


def _assignments(values: list[str] | None) -> dict[str, Any]:
    """``--set jobTitle=Engineer`` (repeatable); ``--set mail=`` clears (null)."""
    changes: dict[str, Any] = {}
    for item in values or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {item!r} is not NAME=VALUE", hint="Write e.g. --set jobTitle=Engineer")
        lowered = value.strip().lower()
        changes[name.strip()] = (None if value == "" else True if lowered == "true"
                                 else False if lowered == "false" else value)
    return changes


def register(app: typer.Typer) -> None:
    """Add the ``emulator`` verb and its control subcommands to ``app``."""
    group = typer.Typer(help=summary("emulator"))
    app.add_typer(group, name="emulator")

    @group.callback(invoke_without_command=True)
    def emulator_command(
        ctx: typer.Context,
        port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535,
                                                 help="Port on 127.0.0.1 (0: any free port); "
                                                 "47443 is where environments/demo looks.")] = 47443,
        users: Annotated[
            Path | None,
            typer.Option("--users", help="Graph-shaped users JSON ({\"value\": [...]} or a list) to add."),
        ] = None,
        generate: Annotated[
            int, typer.Option("--generate", "-n", help="Add N deterministic synthetic users (millions are fine).")
        ] = 0,
        state_dir: Annotated[
            Path, typer.Option("--state-dir", help="Keeps the CA, keys, client secret and admin token between runs.")
        ] = _DEFAULT_STATE,
        fault: Annotated[
            list[str] | None,
            typer.Option("--fault", help="Inject a fault, e.g. 429,retry-after=1,count=3,path=/v1.0/users "
                                         "or drop,count=1 (repeatable)."),
        ] = None,
        page_latency: Annotated[
            float, typer.Option("--page-latency", min=0, max=60_000,
                                help="Milliseconds each /users or delta page, $batch and read by id waits "
                                     "before it is answered (Graph's latency, for measuring).")
        ] = 0,
        no_sample: Annotated[
            bool, typer.Option("--no-sample", help="Start without the sandbox users and Sam Carter.")
        ] = False,
        json_mode: JsonOpt = False,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request on stderr.")] = False,
        quiet: QuietOpt = False,
    ) -> int:
        """Serve Microsoft Entra login and Microsoft Graph v1.0 (users) over HTTPS on 127.0.0.1.

        With a subcommand, drive the emulator already running (users, faults, delta expiry, apps).
        """
        start_work()  # a server (and its generated users) collects garbage as any process does
        if ctx.invoked_subcommand is not None:
            return 0
        out = make_output(json_mode=json_mode, verbose=verbose, quiet=quiet)
        faults = [Fault.parse(spec) for spec in fault or ()]
        emulator = Emulator(state_dir, users=users, generate=generate, port=port,
                            seed_sample=not no_sample, faults=faults, page_latency=page_latency / 1000,
                            log=(lambda line: out.err.print(line, markup=False)) if verbose else None)

        def ready(emu: Emulator) -> None:
            settings = {**emu.settings(), "port": emu.port}
            if out.json_mode:
                out.json(settings)
                return
            out.print(f"Emulator listening on {emu.base_url} (Ctrl-C to stop)")
            out.print("Connector settings:")
            for key in ("tenantId", "clientId", "authorityHost", "graphUrl", "caBundle"):
                out.print(f"  {key}: {settings[key]}")
            out.print(f"Tenant domain: {emu.domain}")
            out.print(f"Client secret: in {emu.client_secret_path} (mode 0600); export it with")
            out.print(f"  export ENTRA_CLIENT_SECRET=\"$(cat {emu.client_secret_path})\"")
            out.print(f"Admin API token: in {emu.admin_token_path} (mode 0600), sent as X-Emulator-Token by "
                      f"`idmctl emulator users|faults|delta --state-dir {emu.state_dir}`")
            if emu.port == 47443:
                out.print("environments/demo is set up for this emulator: `idmctl validate --env demo`")
            out.info(f"State and emulator.json in {emu.state_dir}")

        serve(emulator, on_ready=ready)
        return 0

    @group.command("aic")
    def aic_command(
        port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535,
                                          help="Port on 127.0.0.1 (0: any free port); "
                                               "48443 is where environments/demo-aic looks.")] = DEFAULT_AIC_PORT,
        state_dir: Annotated[Path, typer.Option(
            "--state-dir", help="Keeps the CA, the service account key, the admin token and the tenant's data."
        )] = DEFAULT_AIC_STATE_DIR,
        restart_seconds: Annotated[float, typer.Option(
            "--restart-seconds", min=0, help="How long an ESV restart takes.")] = 2.0,
        token_lifetime: Annotated[int, typer.Option(
            "--token-lifetime", min=1, help="Access tokens' expires_in, in seconds.")] = 899,
        service_account_id: Annotated[str, typer.Option(
            "--service-account-id", help="The service account's id.")] = DEFAULT_SERVICE_ACCOUNT_ID,
        entra_login: Annotated[str, typer.Option(
            "--entra-login", help="Where the MS Graph connector gets tokens (Microsoft's login by default).")
        ] = "https://login.microsoftonline.com",
        entra_graph: Annotated[str, typer.Option(
            "--entra-graph", help="The Graph the MS Graph connector calls (Microsoft Graph by default).")
        ] = "https://graph.microsoft.com",
        entra_ca: Annotated[Path | None, typer.Option(
            "--entra-ca", help="A CA bundle (PEM) to trust for --entra-login and --entra-graph.")] = None,
        fault: Annotated[list[str] | None, typer.Option(
            "--fault", help="Inject a fault, e.g. 429,retry-after=1,count=2,path=/openidm/config, "
                            "restart-hang, lose-write,count=1,path=/openidm/config/mapping/ (repeatable).")] = None,
        recon_record_delay: Annotated[int, typer.Option(
            "--recon-record-delay", min=0, help="Milliseconds a reconciliation waits before each record "
                                                "(slow runs, to watch or cancel them).")] = 0,
        json_mode: JsonOpt = False,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request on stderr.")] = False,
        quiet: QuietOpt = False,
    ) -> int:
        """Serve a local PingOne Advanced Identity Cloud tenant (AM token, IDM, ESVs) over HTTPS on 127.0.0.1."""
        out = make_output(json_mode=json_mode, verbose=verbose, quiet=quiet)
        faults = [AicFault.parse(spec) for spec in fault or ()]
        emulator = AicEmulator(state_dir, port=port, restart_seconds=restart_seconds, token_lifetime=token_lifetime,
                               entra_login=entra_login, entra_graph=entra_graph, entra_ca=entra_ca,
                               service_account_id=service_account_id, faults=faults,
                               recon_record_delay=recon_record_delay / 1000,
                               log=(lambda line: out.err.print(line, markup=False)) if verbose else None)

        def ready(emu: AicEmulator) -> None:
            settings = {**emu.settings(), "port": emu.port}
            if out.json_mode:
                out.json(settings)
                return
            out.print(f"AIC emulator listening on {emu.base_url} (Ctrl-C to stop)")
            out.print("Platform settings:")
            for key in ("tenantUrl", "realm", "serviceAccountId", "caBundle"):
                out.print(f"  {key}: {settings[key]}")
            out.print(f"Service account key: {emu.service_account_jwk_path} (private JWK, mode 0600; PEM in "
                      f"{emu.service_account_pem_path}); read it as a secret fromFile")
            out.print("An environment for it (environment.yaml):")
            out.print(f"  platform: {{type: aic, tenantUrl: {emu.base_url}, realm: {emu.realm}, "
                      f"serviceAccountId: {emu.service_account_id}, serviceAccountKey: ${{secret.aic_sa_key}}}}",
                      markup=False)
            out.print(f"  secrets: {{aic_sa_key: {{fromFile: {emu.service_account_jwk_path}}}}}", markup=False)
            out.print(f"MS Graph connector calls: {settings['entraLogin']} and {settings['entraGraph']}")
            out.print(f"Admin API token: in {emu.admin_token_path} (mode 0600), sent as X-Emulator-Token")
            out.info(f"Tenant data and emulator.json in {emu.state_dir}")

        serve_aic(emulator, on_ready=ready)
        return 0

    @group.command("info")
    @with_output
    def info_cmd(state_dir: StateDirOpt = _DEFAULT_STATE, *, out: Output) -> int:
        """The running emulator: URL, tenant, users, and where its admin token and client secret are."""
        info = Control(state_dir).info()
        if out.json_mode:
            out.json(info)
            return 0
        out.print(f"Emulator at {info['base_url']} (pid {info.get('pid')}): {info.get('users')} users")
        for key in ("tenantId", "tenantDomain", "clientId", "caBundle", "clientSecretFile", "adminTokenFile"):
            out.print(f"  {key}: {info.get(key)}")
        return 0

    users_group = typer.Typer(help="Add, change, rename, delete and restore the running emulator's users.",
                              no_args_is_help=True)
    group.add_typer(users_group, name="users")

    @users_group.command("add")
    @with_output
    def users_add(
        user_principal_name: Annotated[str, typer.Argument(metavar="USER_PRINCIPAL_NAME",
                                                           help="e.g. alex@M365x214355.onmicrosoft.com")],
        given_name: Annotated[str | None, typer.Option("--given-name")] = None,
        surname: Annotated[str | None, typer.Option("--surname")] = None,
        mail: Annotated[str | None, typer.Option("--mail")] = None,
        display_name: Annotated[str | None, typer.Option(
            "--display-name", help="Default: given name and surname.")] = None,
        set_: Annotated[list[str] | None, typer.Option("--set", metavar="NAME=VALUE",
                                                       help="Any other Graph user property (repeatable).")] = None,
        state_dir: StateDirOpt = _DEFAULT_STATE,
        *,
        out: Output,
    ) -> int:
        """Create a user, as an Entra admin would (mailNickname and accountEnabled filled in)."""
        user: dict[str, Any] = {"userPrincipalName": user_principal_name}
        for key, value in (("givenName", given_name), ("surname", surname), ("mail", mail)):
            if value is not None:
                user[key] = value
        user["displayName"] = display_name or " ".join(v for v in (given_name, surname) if v) or user_principal_name
        user.update(_assignments(set_))
        return _show_user(out, Control(state_dir).add_user(user), "Created")

    @users_group.command("get")
    @with_output
    def users_get(key: Annotated[str, typer.Argument(metavar="ID_OR_UPN")],
                  state_dir: StateDirOpt = _DEFAULT_STATE, *, out: Output) -> int:
        """Show one user (by id or userPrincipalName), deleted ones included."""
        return _show_user(out, Control(state_dir).get_user(key), "User")

    @users_group.command("set")
    @with_output
    def users_set(key: Annotated[str, typer.Argument(metavar="ID_OR_UPN")],
                  set_: Annotated[list[str], typer.Option("--set", metavar="NAME=VALUE",
                                                          help="A property to set; NAME= clears it (repeatable).")],
                  state_dir: StateDirOpt = _DEFAULT_STATE, *, out: Output) -> int:
        """Change a user's properties (Graph PATCH semantics); the change shows in the next delta."""
        return _show_user(out, Control(state_dir).update_user(key, _assignments(set_)), "Updated")

    @users_group.command("rename")
    @with_output
    def users_rename(key: Annotated[str, typer.Argument(metavar="ID_OR_UPN")],
                     new_name: Annotated[str, typer.Argument(metavar="NEW_USER_PRINCIPAL_NAME")],
                     state_dir: StateDirOpt = _DEFAULT_STATE, *, out: Output) -> int:
        """Change a user's userPrincipalName (its id stays)."""
        return _show_user(out, Control(state_dir).update_user(key, {"userPrincipalName": new_name}), "Renamed")

    @users_group.command("delete")
    @with_output
    def users_delete(key: Annotated[str, typer.Argument(metavar="ID_OR_UPN")],
                     permanent: Annotated[bool, typer.Option(
                         "--permanent", help="Purge it (delta reason 'deleted'); default: soft delete.")] = False,
                     state_dir: StateDirOpt = _DEFAULT_STATE, *, out: Output) -> int:
        """Delete a user: soft (restorable for 30 days in Entra ID) or --permanent."""
        Control(state_dir).delete_user(key, permanent=permanent)
        if out.json_mode:
            out.json({"deleted": key, "permanent": permanent})
        else:
            how = " permanently" if permanent else " (soft; `idmctl emulator users restore ID` undoes it)"
            out.print(f"Deleted {escape(key)}{how}")
        return 0

    @users_group.command("restore")
    @with_output
    def users_restore(key: Annotated[str, typer.Argument(metavar="ID")],
                      state_dir: StateDirOpt = _DEFAULT_STATE, *, out: Output) -> int:
        """Restore a soft-deleted user."""
        return _show_user(out, Control(state_dir).restore_user(key), "Restored")

    faults_group = typer.Typer(help="Inject, list and clear faults of the running emulator.", no_args_is_help=True)
    group.add_typer(faults_group, name="faults")

    @faults_group.command("add")
    @with_output
    def faults_add(spec: Annotated[str, typer.Argument(
                       metavar="SPEC", help="429,retry-after=2,count=3,path=/v1.0/users | drop,count=1 | "
                                            "expired-secret | not-json | html | next-link-loop | "
                                            "oversized-page,items=N | huge-value,size=N")],
                   state_dir: StateDirOpt = _DEFAULT_STATE, *, out: Output) -> int:
        """Answer the next matching requests with a fault."""
        Fault.parse(spec)  # a bad spec is a usage error here, before anything is sent
        fault = Control(state_dir).add_fault(spec)
        if out.json_mode:
            out.json(fault)
        else:
            out.print(f"Fault {fault['id']} added: {fault['kind']} {fault['status']}, count {fault['count']}"
                      + (f", path {fault['path']}" if fault.get("path") else ""))
        return 0

    @faults_group.command("list")
    @with_output
    def faults_list(state_dir: StateDirOpt = _DEFAULT_STATE, *, out: Output) -> int:
        """The faults still waiting to fire."""
        faults = Control(state_dir).faults()
        if out.json_mode:
            out.json(faults)
            return 0
        for fault in faults:
            out.print(f"{fault['id']}: {fault['kind']} {fault['status']}, count {fault['count']}, "
                      f"path {fault.get('path') or '(any)'}, method {fault.get('method') or '(any)'}")
        if not faults:
            out.print("No faults.")
        return 0

    @faults_group.command("clear")
    @with_output
    def faults_clear(state_dir: StateDirOpt = _DEFAULT_STATE, *, out: Output) -> int:
        """Remove every fault."""
        Control(state_dir).clear_faults()
        if out.json_mode:
            out.json({"cleared": True})
        else:
            out.print("Faults cleared.")
        return 0

    delta_group = typer.Typer(help="Graph delta links of the running emulator.", no_args_is_help=True)
    group.add_typer(delta_group, name="delta")

    @delta_group.command("expire")
    @with_output
    def delta_expire(status: Annotated[int, typer.Option(
                         "--status", help="400 (syncStateNotFound, as Entra ID after 7 days) or 410.")] = 400,
                     state_dir: StateDirOpt = _DEFAULT_STATE, *, out: Output) -> int:
        """Make every delta link issued so far fail: the next incremental run is full and says why."""
        if status not in (400, 410):
            raise UsageError(f"--status {status} is not how Graph expires a delta link", hint="Use 400 or 410")
        Control(state_dir).expire_delta(status)
        if out.json_mode:
            out.json({"expired": True, "status": status})
        else:
            out.print(f"Delta links expired (the next delta request answers {status}).")
        return 0

    apps_group = typer.Typer(help="App registrations of the running emulator.", no_args_is_help=True)
    group.add_typer(apps_group, name="apps")

    @apps_group.command("add")
    @with_output
    def apps_add(role: Annotated[list[str] | None, typer.Option(
                     "--role", help="An application permission to grant, e.g. User.Read.All (repeatable).")] = None,
                 state_dir: StateDirOpt = _DEFAULT_STATE, *, out: Output) -> int:
        """Register another app in the tenant; prints its client id and its secret, once (as the portal does)."""
        app_ = Control(state_dir).add_app(list(role or ()))
        if out.json_mode:
            out.json(app_)
        else:
            out.print(f"App {app_['client_id']} granted {', '.join(role or ()) or 'no roles'}")
            out.print(f"Client secret (shown once): {app_['secret']}")
        return 0
