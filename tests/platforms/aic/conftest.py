"""Fixtures for the aic platform's plan and apply: a fake tenant, a repository on it, a virtual clock.

``aic`` (an ``AicHarness``) is the usual entry: ``environments/dev`` of this repository (on the aic
platform) copied to a temporary root with its state initialised, its secrets set to recognisable
values, and every command connected to ``fake_tenant`` through a ``tenant_factory``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller import commands
from controller.backends import StateBackend, open_backend
from controller.config import ResourceSet, load_environment
from controller.config.models import AicPlatformSpec
from controller.plan import Plan
from controller.platforms.aic import AicPlatform, TenantApi
from tests.conftest import REPO, STATE_SECRET
from tests.platforms.aic.fake_tenant import FakeTenant

# A recognisable service-account private key: tests grep every output, file and state row for it.
SA_KEY = ('{"kty":"RSA","alg":"RS256","e":"AQAB","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1Wl'
          'UzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8",'
          '"d":"Pr1vAte-K3y-0f-Th3-S3rv1ce-Acc0unt-9q8w7e6r5t4y3u2i1o0p"}')
SA_KEY_MARK = "Pr1vAte-K3y-0f-Th3-S3rv1ce-Acc0unt"


@dataclass
class Clock:
    """A virtual clock: ``sleep`` moves it on at once and records how long was asked."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def time(self) -> float:
        return self.now


@dataclass
class AicHarness:
    root: Path
    tenant: FakeTenant
    clock: Clock
    env: str = "dev"
    connects: int = 0

    def factory(self, spec: AicPlatformSpec, key: str, base_dir: Path) -> TenantApi:
        assert key == SA_KEY and base_dir == self.root and spec.tenantUrl == self.tenant.tenant_url
        self.connects += 1
        return self.tenant

    def plan(self, **kw: Any) -> Plan:
        return commands.plan(self.root, self.env, tenant_factory=self.factory, **kw).plan

    def apply(self, plan_file: Path | None = None, **kw: Any) -> commands.ApplyResult:
        return commands.apply(self.root, self.env, plan_file=plan_file, approve=lambda _: True,
                              tenant_factory=self.factory, **kw)

    @property
    def resources(self) -> ResourceSet:
        return load_environment(self.root, self.env).resources

    def backend(self) -> StateBackend:
        return open_backend(self.root, self.resources.environment)

    @contextmanager
    def platform(self, **kw: Any) -> Iterator[tuple[AicPlatform, StateBackend]]:
        """The platform itself, on the virtual clock, over an open state (for faults and timeouts)."""
        resources = self.resources
        spec = resources.environment.spec.platform
        assert isinstance(spec, AicPlatformSpec)
        backend = open_backend(self.root, resources.environment)
        try:
            yield AicPlatform(self.root, backend, spec, self.tenant, resources, sleep=self.clock.sleep,
                              clock=self.clock.time, **kw), backend
        finally:
            backend.close()

    def live_plan(self, platform: AicPlatform, backend: StateBackend) -> Plan:
        live = platform.plan_live(self.resources, backend.fingerprint_key)
        return Plan(self.env, (), (), 0, None, "", platform=live.platform, native=live.native, drift=live.drift,
                    live_hash=live.live_hash)

    def edit_environment(self, old: str, new: str) -> None:
        path = self.root / "environments" / self.env / "environment.yaml"
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))

    def state_text(self) -> str:
        """Every byte of the state file (and its WAL): what a leak test greps."""
        db = self.root / ".idmctl" / f"{self.env}.db"
        return b"".join(p.read_bytes() for p in db.parent.glob(f"{self.env}.db*")).decode("latin-1")


@pytest.fixture
def fake_tenant() -> FakeTenant:
    """An empty tenant but for the seeded owner ``app-owner`` (managed/alpha_user)."""
    return FakeTenant()


def aic_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped environments/dev (the aic platform) in a fresh repository, the working directory, with
    its secrets set to recognisable values; not initialised."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "environments" / "dev", root / "environments" / "dev")
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", STATE_SECRET)
    monkeypatch.setenv("AIC_SA_KEY", SA_KEY)
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def aic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_tenant: FakeTenant) -> AicHarness:
    """``aic_repo``, initialised, every command wired to ``fake_tenant``."""
    root = aic_repo(tmp_path, monkeypatch)
    commands.init(root, "dev")
    return AicHarness(root, fake_tenant, Clock())

