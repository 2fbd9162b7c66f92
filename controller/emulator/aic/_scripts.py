"""IDM's scripts, run by a real JavaScript engine: Duktape (ES5.1, as IDM's Rhino is ES5) through ``dukpy``.

A mapping's scripts are objects ``{"type": "text/javascript", "source": "…"}`` (``file`` scripts and
Groovy are refused: the emulator has no script library). The script is evaluated as a program whose
value is its last expression (IDM's ``var qry = {…}; qry`` form), with the bindings IDM gives it as
variables (``source``, ``target``, ``object``, ``linkQualifier`` …). Each evaluation runs inside a
function, so a script's ``var`` stays its own; one interpreter is reused per run (a run is one
thread), which keeps a few thousand evaluations to a fraction of a second.
"""

from __future__ import annotations

import json
from typing import Any

import dukpy

__all__ = ["ScriptEngine", "ScriptError", "is_script"]

_CALL = ("(function (__bindings, __script) { with (__bindings) { return eval(__script); } })"
         "(dukpy.bindings, dukpy.script)")


class ScriptError(Exception):
    """A script that cannot run or threw (the message says which and why)."""


def is_script(value: Any) -> bool:
    return isinstance(value, dict) and ("source" in value or "file" in value) and "type" in value


class ScriptEngine:
    """One JavaScript interpreter; not shared between threads."""

    def __init__(self) -> None:
        self._js = dukpy.JSInterpreter()
        self.count = 0

    def run(self, script: Any, what: str, **bindings: Any) -> Any:
        """The value of ``script`` (a script object or a bare source string) with ``bindings`` in scope."""
        if isinstance(script, str):
            source = script
        elif isinstance(script, dict):
            kind = str(script.get("type") or "text/javascript")
            if kind != "text/javascript":
                raise ScriptError(f"{what}: script type {kind!r} is not supported by the emulator (text/javascript)")
            if not isinstance(script.get("source"), str):
                raise ScriptError(f"{what}: a script from a file ({script.get('file')!r}) is not supported by the "
                                  "emulator; give the source inline")
            source = script["source"]
            globals_ = script.get("globals")
            if isinstance(globals_, dict):
                bindings = {**globals_, **bindings}
        else:
            raise ScriptError(f"{what}: not a script: {script!r}")
        self.count += 1
        try:
            # JSON round trip: what a script sees is JSON, as IDM's JsonValue is
            return self._js.evaljs(_CALL, bindings=json.loads(json.dumps(bindings, default=str)), script=source)
        except Exception as exc:  # dukpy raises JSRuntimeError (and others) for a script that fails  # noqa: BLE001
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ScriptError(f"{what}: {first}") from None
