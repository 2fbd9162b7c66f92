"""The package's layers hold: `lint-imports` checks the contracts in pyproject.toml."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a dev dependency: run make install"
    proc = subprocess.run([exe, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_mypy_strict_finds_nothing() -> None:
    """The layers' seams are typed: `mypy --strict` (settings in pyproject.toml) reports no error."""
    exe = shutil.which("mypy", path=str(Path(sys.executable).parent))
    assert exe, "mypy is a dev dependency: run make install"
    proc = subprocess.run([exe], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_every_type_ignore_says_why() -> None:
    """A `# type: ignore[code]` names its code and is followed by a comment giving the reason."""
    bare = []
    for path in sorted((REPO / "controller").rglob("*.py")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if "type: ignore" in line and not re.search(r"# type: ignore\[[a-z-]+(, ?[a-z-]+)*\]  # \S", line):
                bare.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()}")
    assert not bare, "type: ignore without a reason:\n" + "\n".join(bare)
