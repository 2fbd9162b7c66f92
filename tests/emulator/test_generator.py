"""Generated users: deterministic, unique, realistic, found by id/UPN/mail, and cheap at a million."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from controller.emulator import Emulator
from controller.emulator._directory import Directory
from controller.emulator._generator import UserGenerator
from tests.emulator.conftest import graph_for, pinned_session

DOMAIN = "M365x214355.onmicrosoft.com"


def test_same_seed_same_users_other_seed_other_users() -> None:
    a, b, c = UserGenerator(5000, DOMAIN), UserGenerator(5000, DOMAIN), UserGenerator(5000, DOMAIN, seed=7)
    assert [a.user(i) for i in range(50)] == [b.user(i) for i in range(50)]
    assert a.user(3)["id"] != c.user(3)["id"]


def test_users_are_unique_and_varied() -> None:
    gen = UserGenerator(20_000, DOMAIN)
    users = [gen.user(i) for i in range(20_000)]
    assert len({u["id"] for u in users}) == len({u["userPrincipalName"].lower() for u in users}) == 20_000
    assert len({u["mail"].lower() for u in users}) == 20_000
    disabled = sum(not u["accountEnabled"] for u in users)
    guests = [u for u in users if u["userType"] == "Guest"]
    assert 0.01 < disabled / 20_000 < 0.1 and 0.005 < len(guests) / 20_000 < 0.05
    assert all("#EXT#@" in g["userPrincipalName"] and "department" not in g for g in guests)
    assert len({u.get("department") for u in users}) > 5


def test_ids_and_names_decode_back_to_their_index() -> None:
    gen = UserGenerator(1_000_000, DOMAIN, seed=3)
    for i in (0, 1, 77, 123_456, 999_999):
        user = gen.user(i)
        assert gen.index_of_id(user["id"]) == i and gen.index_of_id(user["id"].upper()) == i
        assert gen.index_of_name(user["userPrincipalName"]) == i and gen.index_of_name(user["mail"]) == i
    assert gen.index_of_id("87d349ed-44d7-43e1-9a83-5f2406dee5bd") is None


def test_a_million_user_directory_costs_no_memory_until_changed() -> None:
    before = psutil.Process().memory_info().rss
    directory = Directory([], generated=1_000_000, domain=DOMAIN)
    user = directory.get(999_999)
    assert user is not None and directory.live_count == 1_000_000
    assert directory.position(user["userPrincipalName"]) == 999_999
    assert directory.positions_for({"mail": {user["mail"].lower()}}) == [999_999]
    directory.update(user["id"], {"userPrincipalName": f"renamed@{DOMAIN}"})
    assert directory.position(user["userPrincipalName"]) is None
    assert directory.position(f"RENAMED@{DOMAIN}") == 999_999
    directory.delete(user["id"])
    assert directory.live_count == 999_999 and directory.get(999_999) is None
    assert psutil.Process().memory_info().rss - before < 50 * 2**20


@pytest.mark.slow
def test_serves_a_million_generated_users_over_https(tmp_path: Path) -> None:
    process = psutil.Process()
    before = process.memory_info().rss
    seen = 0
    with Emulator(tmp_path, generate=1_000_000, seed_sample=False) as emu, pinned_session(emu) as session:
        graph = graph_for(emu, session)
        for page in graph.pages("users?$top=999&$select=id,userPrincipalName,accountEnabled"):
            seen += len(page["value"])
        peak = process.memory_info().rss
    assert seen == 1_000_000
    assert peak - before < 1024 * 2**20
