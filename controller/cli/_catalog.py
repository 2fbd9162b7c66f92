"""Every top-level command: the module that registers it and the line `idmctl --help` shows for it.

`idmctl --help` (and `idmctl` alone, or an unknown command) lists the commands from this table
without importing a single command module: importing all fifteen (config, pydantic, the plan engine,
both emulators, cryptography) cost 0.61-0.67 CPU s; the listing alone costs 0.16-0.18. Each command module
takes its summary from here (``short_help`` of a command, ``help`` of a group), so the line the
listing shows and the one the full app would show are the same text.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["COMMANDS", "MODULES", "CommandEntry", "module_of", "summary"]


class CommandEntry(NamedTuple):
    name: str
    module: str  # under controller.cli; one module may register several commands
    summary: str


# In the order the full app lists them (typer puts single commands before groups).
COMMANDS: tuple[CommandEntry, ...] = (
    CommandEntry("validate", "validate",
                 "Validate schemas, references, filters and cron of one environment (or all): exit 0 valid, 1 not."),
    CommandEntry("init", "init", "Create the environment's state (spec.state); an existing state is left as it is."),
    CommandEntry("plan", "plan",
                 "Show what `apply` would change: the files (desired) vs the environment's state (applied)."),
    CommandEntry("apply", "apply", "Apply the configuration to the environment's state: all or nothing, audited."),
    CommandEntry("force-unlock", "force_unlock",
                 "Release the environment lock LOCK_ID held by a dead process (audited)."),
    CommandEntry("promote", "promote",
                 "Copy every resource file but environment.yaml from --from to --to, then plan --to."),
    CommandEntry("reconcile", "reconcile",
                 "Reconcile a mapping: situations, actions, a safety guard for deletes; Ctrl-C cancels cleanly."),
    CommandEntry("render", "render",
                 "Render the resources as PingOne Advanced Identity Cloud objects (secrets only as &{esv...} "
                 "placeholders), or diff them against an export."),
    CommandEntry("import", "import_",
                 "Write resource files from what the environment's AIC tenant already has; list what idmctl "
                 "cannot express."),
    CommandEntry("connector", "connector", "Check connectors and look at their accounts."),
    CommandEntry("runs", "runs", "Reconciliation runs: history, entries, retention."),
    CommandEntry("identities", "identities", "Managed identities (managed/alpha_user)."),
    CommandEntry("schedule", "schedule", "Quartz schedules: fire times in words, status, the scheduler loop."),
    CommandEntry("state", "state", "The environment's state: applied resources, serial, lineage, lock."),
    CommandEntry("audit", "state", "The environment's audit log."),
    CommandEntry("env", "state", "Environments: make a new one from an existing one."),
    CommandEntry("emulator", "emulator",
                 "Run the local Entra ID + Microsoft Graph emulator, or drive a running one."),
)

# The command modules, each once, in the order of their first command.
MODULES: tuple[str, ...] = tuple(dict.fromkeys(entry.module for entry in COMMANDS))

_BY_NAME = {entry.name: entry for entry in COMMANDS}


def summary(name: str) -> str:
    """The one-line help of top-level command ``name``."""
    return _BY_NAME[name].summary


def module_of(name: str) -> str | None:
    """The module that registers top-level command ``name``, or None when there is no such command."""
    entry = _BY_NAME.get(name)
    return None if entry is None else entry.module
