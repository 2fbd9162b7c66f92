"""Promotion reads the target's environment.yaml with the configuration loader's limits too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controller.errors import ConfigError
from controller.plan import promote
from tests.conftest import copy_environment

REPO = Path(__file__).resolve().parents[2]
BOMB = REPO / "tests" / "config" / "hostile" / "billion-laughs.yaml"


def test_a_billion_laughs_in_the_target_environment_is_a_located_error(tmp_path: Path) -> None:
    for env in ("dev", "prod"):
        copy_environment(env, tmp_path)
    shutil.copy(BOMB, tmp_path / "environments" / "prod" / "environment.yaml")
    with pytest.raises(ConfigError) as refused:
        promote(tmp_path, "dev", "prod")
    [diag] = [d for d in refused.value.diagnostics if d.severity == "error"]
    assert diag.pos is not None and diag.pos.file == "environments/prod/environment.yaml"
    assert "alias" in diag.message or "values" in diag.message
