"""The IDM query-filter evaluator on its own: operators, quoting, pointers, lists, and what AIC refuses."""

from __future__ import annotations

import pytest

from controller.emulator.aic import QueryError, compile_filter

USER = {"_id": "1", "userName": "SCarter", "mail": "scarter@example.com", "age": 42, "active": True,
        "name": {"given": "Sam"}, "tags": ["a", "b"], "none": None}


@pytest.mark.parametrize(("text", "expected"), [
    ('userName eq "scarter"', True),  # case-insensitive, as AIC's directory compares
    ("userName eq 'SCarter'", True),
    ('/mail co "@example"', True),
    ('mail sw "sc"', True),
    ("age gt 41 and age lt 43", True),
    ("age ge 43", False),
    ("age le 42", True),
    ("active eq true", True),
    ("active eq false", False),
    ('/name/given eq "Sam"', True),
    ('tags eq "b"', True),
    ("none pr", False),
    ("missing pr", False),
    ("mail pr", True),
    ('!(mail co "example")', False),
    ('!(mail co "example") or (age eq 42 and userName sw "S")', True),
    ('userName eq "it\\"s"', False),
    ("true", True),
    ("false", False),
])
def test_filters(text: str, expected: bool) -> None:
    assert compile_filter(text)(USER) is expected


@pytest.mark.parametrize("text", ['not (userName eq "x")', "userName eq", 'userName wobbles "x"', "(true",
                                  "", 'a eq "x" b', "age eq unquoted", 'members[_id eq "x"] pr'])
def test_refused(text: str) -> None:
    with pytest.raises(QueryError):
        compile_filter(text)
