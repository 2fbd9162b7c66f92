"""How an environment on the aic platform is opened: the platform, its tenant, the key read only when needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controller import commands
from controller.backends import open_backend
from controller.config import load_environment
from controller.config.models import AicPlatformSpec
from controller.errors import ConfigError, UsageError
from controller.platforms import open_platform, open_tenant
from controller.platforms.aic import AicPlatform, TenantApi
from tests.conftest import REPO, copy_environment
from tests.platforms.aic.conftest import SA_KEY, AicHarness
from tests.platforms.aic.fake_tenant import FakeTenant


def test_open_tenant_reads_the_key_from_its_secret_and_connects(aic: AicHarness) -> None:
    given: list[tuple[str, str, Path]] = []

    def factory(spec: AicPlatformSpec, key: str, base_dir: Path) -> TenantApi:
        given.append((spec.tenantUrl, key, base_dir))
        return aic.tenant

    assert open_tenant(aic.root, aic.resources, tenant_factory=factory) is aic.tenant
    assert given == [("https://openam-acme-dev.forgeblocks.com", SA_KEY, aic.root)]


def test_open_tenant_refuses_an_embedded_environment(tmp_path: Path) -> None:
    copy_environment("demo", tmp_path)
    with pytest.raises(UsageError, match="is on the embedded platform, not aic"):
        open_tenant(tmp_path, load_environment(tmp_path, "demo").resources)


def test_the_platform_connects_on_first_use_only(aic: AicHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIC_SA_KEY")
    resources = aic.resources
    backend = open_backend(aic.root, resources.environment)
    try:
        platform = open_platform(aic.root, resources.environment, backend, resources,
                                 tenant_factory=aic.factory)
        assert isinstance(platform, AicPlatform) and platform.type == "aic"
        with pytest.raises(UsageError, match="fires them itself"):
            platform.serve_schedules(once=True)  # no tenant needed, so no key read
        with pytest.raises(ConfigError, match="AIC_SA_KEY=<the service account's private key"):
            platform.plan_live(resources, backend.fingerprint_key)
        platform.close()
    finally:
        backend.close()
    assert aic.connects == 0


def test_promote_to_an_aic_environment_without_its_key_copies_and_says_why_there_is_no_plan(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("dev", "prod"):
        shutil.copytree(REPO / "environments" / env, tmp_path / "environments" / env)
    monkeypatch.setenv("AIC_SA_KEY", SA_KEY)
    commands.init(tmp_path, "prod")
    monkeypatch.delenv("AIC_SA_KEY")
    (tmp_path / "environments" / "dev" / "schedule.yaml").write_text(
        (tmp_path / "environments" / "dev" / "schedule.yaml").read_text().replace("0 0/15", "0 0/30"))
    result = commands.promote(tmp_path, "dev", "prod")
    assert result.plan is None and result.plan_note is not None
    assert "the files are copied, but the plan of 'prod' needs its tenant" in result.plan_note
    assert "0 0/30" in (tmp_path / "environments" / "prod" / "schedule.yaml").read_text()


def test_the_fake_tenant_is_a_tenant_api() -> None:
    assert isinstance(FakeTenant(), TenantApi)
