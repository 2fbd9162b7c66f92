"""``ManagedType.all_valid`` (the engine's check of a page of creates) agrees with ``schema_error``."""

from __future__ import annotations

from typing import Any

import pytest

from controller.config.managed import ALPHA_USER

GOOD: dict[str, Any] = {"userName": "adele.vance@contoso.onmicrosoft.com", "givenName": "Adele", "sn": "Vance",
                        "mail": "adele.vance@example.com", "accountStatus": "active"}

# One object each way alpha_user refuses one, and a few it accepts that look odd.
CASES: list[dict[str, Any]] = [
    GOOD,
    GOOD | {"mail": None},  # a required property null
    {k: v for k, v in GOOD.items() if k != "sn"},  # ... or missing
    GOOD | {"givenName": ""},  # empty
    GOOD | {"givenName": " \t\u00a0"},  # blank, a non-breaking space among the blanks
    GOOD | {"givenName": 42},  # not a string
    GOOD | {"userName": "contoso/adele"},  # a forbidden character
    GOOD | {"userName": "a" * 255},  # the longest allowed
    GOOD | {"userName": "a" * 256},  # one longer
    GOOD | {"givenName": " Adele "},  # spaces around a value are kept, not refused
    GOOD | {"userName": "ADÈLE.VANCE@contoso.onmicrosoft.com", "displayName": None},  # optional null
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_one_object_is_valid_exactly_when_schema_error_finds_nothing(case: int) -> None:
    obj = CASES[case]
    assert ALPHA_USER.all_valid([obj]) == (ALPHA_USER.schema_error(obj) is None)


def test_many_objects_are_valid_exactly_when_each_one_is() -> None:
    valid = [o for o in CASES if ALPHA_USER.schema_error(o) is None]
    assert len(valid) == 4 and ALPHA_USER.all_valid(valid)
    for bad in (o for o in CASES if ALPHA_USER.schema_error(o) is not None):
        assert not ALPHA_USER.all_valid([*valid[:2], bad, *valid[2:]])
    assert ALPHA_USER.all_valid([])
