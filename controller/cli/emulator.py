"""`idmctl emulator`: run the local Entra login + Graph emulator in the foreground until Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controller.cli._common import JsonOpt, QuietOpt, make_output
from controller.emulator import Emulator, Fault, serve

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``emulator`` verb to ``app``."""

    @app.command("emulator")
    def emulator_command(
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
            Path, typer.Option("--state-dir", help="Keeps the CA, keys and client secret between runs.")
        ] = Path(".emulator"),
        fault: Annotated[
            list[str] | None,
            typer.Option("--fault", help="Inject a fault, e.g. 429,retry-after=1,count=3,path=/v1.0/users "
                                         "or drop,count=1 (repeatable)."),
        ] = None,
        page_latency: Annotated[
            float, typer.Option("--page-latency", min=0, max=60_000,
                                help="Milliseconds each /users or delta page waits before it is answered "
                                     "(Graph's page latency, for measuring).")
        ] = 0,
        no_sample: Annotated[
            bool, typer.Option("--no-sample", help="Start without the sandbox users and Sam Carter.")
        ] = False,
        json_mode: JsonOpt = False,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request on stderr.")] = False,
        quiet: QuietOpt = False,
    ) -> int:
        """Serve Microsoft Entra login and Microsoft Graph v1.0 (users) over HTTPS on 127.0.0.1."""
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
            out.info(f"State and emulator.json in {emu.state_dir}")

        serve(emulator, on_ready=ready)
        return 0
