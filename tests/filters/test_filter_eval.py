"""Evaluator: filters against Graph user objects shaped like the sandbox tenant (rooms with null names,
businessPhones lists, accountEnabled booleans, guests with #EXT# UPNs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.filters import (
    And,
    Compare,
    Literal,
    Not,
    Present,
    compile_filter,
    evaluate,
    filter_attributes,
    parse_filter,
)

USERS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "graph-users.json").read_text(encoding="utf-8")
)["value"]

ROOMS = ["Conf Room Adams", "Support shared mailbox"]
PEOPLE = [u["displayName"] for u in USERS if u["displayName"] not in ROOMS]

CASES = [
    ('mail eq "scarter@example.com"', ["Sam Carter"]),
    ('mail eq "SCARTER@Example.COM"', ["Sam Carter"]),
    ("/mail eq 'scarter@example.com'", ["Sam Carter"]),
    ("givenName eq null", ROOMS),
    ("givenName pr", PEOPLE),
    ("not (givenName pr)", ROOMS),
    ("givenName ne null", PEOPLE),
    ('givenName ne "Sam"', [p for p in PEOPLE if p != "Sam Carter"]),  # null givenName: ne is false
    ('not (givenName eq "Sam")', [u["displayName"] for u in USERS if u["displayName"] != "Sam Carter"]),
    ("accountEnabled eq true", ["Adele Vance", "Megan Bowen", "Patti Fernandez", "MOD Administrator",
                                "Alex Wilber", "Sam Carter", "Dana O'Brien (Guest)"]),
    ("accountEnabled eq false", ROOMS + ["Lee Gu"]),
    ('accountEnabled eq "FALSE"', []),  # a boolean never equals a string (IDM's isCompatible)
    ('accountEnabled ne true', ROOMS + ["Lee Gu"]),
    # businessPhones is a list: any element matches; [] is a value, present (as in IDM), with no element
    ('businessPhones eq "+1 425 555 0109"', ["Adele Vance", "Sam Carter"]),
    ('businessPhones sw "+1 4"', ["Adele Vance", "Megan Bowen", "Sam Carter"]),
    ("businessPhones pr", [u["displayName"] for u in USERS]),
    ("businessPhones eq null", []),
    ('businessPhones co ""', [u["displayName"] for u in USERS if u["businessPhones"]]),  # at least one
    ('otherMails ew "@fabrikam.com"', ["Alex Wilber", "Dana O'Brien (Guest)"]),
    ('displayName sw "conf room"', ["Conf Room Adams"]),
    ('displayName co "(guest)"', ["Dana O'Brien (Guest)"]),
    ('surname eq "o\'brien"', ["Dana O'Brien (Guest)"]),
    ('userPrincipalName co "#EXT#"', ["Dana O'Brien (Guest)"]),
    ('userType eq "guest"', ["Dana O'Brien (Guest)"]),
    ('department eq "Marketing" or department eq "finance"', ["Adele Vance", "Megan Bowen"]),
    ('accountEnabled eq true and employeeId pr and not (department eq "Support")',
     ["Adele Vance", "Megan Bowen", "Patti Fernandez", "Alex Wilber"]),
    ('employeeId ge "E1003" and employeeId lt "E2000"', ["Patti Fernandez", "Alex Wilber", "Lee Gu"]),
    ('jobTitle eq null and accountEnabled eq true', ["MOD Administrator", "Dana O'Brien (Guest)"]),
    ("true", [u["displayName"] for u in USERS]),
    ("false", []),
    ('nosuchAttribute eq "x"', []),
    ("nosuchAttribute eq null", [u["displayName"] for u in USERS]),
    ('nosuchAttribute ne "x"', []),
    ("nosuchAttribute pr", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_selects_users(text: str, expected: list[str]) -> None:
    predicate = compile_filter(parse_filter(text))
    assert [u["displayName"] for u in USERS if predicate(u)] == expected


@pytest.mark.parametrize(
    ("text", "obj", "expected"),
    [
        ("age gt 17", {"age": 18}, True),
        ("age gt 17", {"age": 17}, False),
        ("age ge 17.5", {"age": 18}, True),
        ("age le 10", {"age": 10.0}, True),
        ("age eq 18", {"age": "18"}, False),  # numbers compare by type
        ('age eq "18"', {"age": 18}, False),
        ("age eq 1", {"age": True}, False),  # a boolean is not a number
        ("flag eq true", {"flag": 1}, False),
        # IDM's isCompatible: a boolean never matches a string, in either direction
        ('flag eq "true"', {"flag": True}, False),
        ('isAdmin eq "false"', {"isAdmin": False}, False),
        ("flag eq true", {"flag": "True"}, False),
        ("flag eq true", {"flag": "true"}, False),
        ("flag eq false", {"flag": "no"}, False),
        ('flag co "ru"', {"flag": True}, False),
        ('flag sw "t"', {"flag": True}, False),
        ("flag eq true", {"flag": True}, True),
        ("flag eq false", {"flag": False}, True),
        ('flag ne "true"', {"flag": True}, True),
        ('name gt "b"', {"name": "Carol"}, True),  # ordering is case-insensitive too
        ('name lt "B"', {"name": "alice"}, True),
        ('name gt "b"', {"name": 5}, False),
        ('name eq "x"', {"name": {"value": "x"}}, False),
        ("name pr", {"name": {"value": "x"}}, True),
        ("name pr", {"name": ""}, True),
        ('name eq ""', {"name": ""}, True),
        # [] is a value: IDM's pr is "not null"
        ("empty pr", {"empty": []}, True),
        ("empty pr", {"empty": {}}, True),
        ("tags eq null", {"tags": []}, False),
        ("tags ne null", {"tags": []}, True),
        ('tags eq "a"', {"tags": []}, False),
        ("tags eq null", {"tags": [None]}, False),
        ('tags eq "a"', {"tags": [None, "A"]}, True),
        ('tags ne "a"', {"tags": ["a"]}, False),
        ('tags ne "a"', {"tags": ["a", "b"]}, True),  # SCIM: any element
        ("scores gt 5", {"scores": [1, 9]}, True),
        ('name/givenName eq "sam"', {"name": {"givenName": "Sam"}}, True),
        ('name/givenName eq "sam"', {"name": None}, False),
        ("name/givenName eq null", {"name": None}, True),
        ("name/givenName eq null", {}, True),
        ('emails/value ew "@example.com"',
         {"emails": [{"value": "a@other.org"}, {"value": "b@EXAMPLE.com"}]}, True),
        ('emails/0/value eq "a@other.org"', {"emails": [{"value": "a@other.org"}, {"value": "b"}]}, True),
        ('emails/1/value eq "a@other.org"', {"emails": [{"value": "a@other.org"}, {"value": "b"}]}, False),
        ('emails/5/value pr', {"emails": [{"value": "a@other.org"}]}, False),
        ('name eq "ǅemal"', {"name": "ǆEMAL"}, True),
        # SCIM attribute paths: a.b is the path a/b, and through a list any element matches
        ('name.familyName co "o\'malley"', {"name": {"familyName": "O'Malley"}}, True),
        ('name.familyName co "o\'malley"', {"name": {"familyName": "Jensen"}}, False),
        ('meta.lastModified gt "2011-05-13T04:42:34Z"', {"meta": {"lastModified": "2011-05-13T04:42:35Z"}}, True),
        ('meta.lastModified gt "2011-05-13T04:42:34Z"', {"meta": {"lastModified": "2011-05-13T04:42:33Z"}}, False),
        ('emails.value ew "@example.com"',
         {"emails": [{"value": "a@other.org"}, {"value": "b@EXAMPLE.com"}]}, True),
        ('emails.value ew "@example.com"', {"emails": [{"value": "a@other.org"}]}, False),
        ("emails.value pr", {"emails": []}, False),
        ('urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "jensen"',
         {"name": {"familyName": "Jensen"}}, True),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen"', {"userName": "BJensen"}, True),
    ],
)
def test_value_semantics(text: str, obj: dict[str, Any], expected: bool) -> None:
    assert evaluate(parse_filter(text), obj) is expected


def test_hand_built_tree_evaluates_like_parsed_text() -> None:
    tree = And((Compare("mail", "sw", "SCARTER"), Not(Present("jobTitle")), Literal(True)))
    sam = next(u for u in USERS if u["displayName"] == "Sam Carter")
    assert evaluate(tree, sam) is False
    assert evaluate(tree, {**sam, "jobTitle": None}) is True


def test_compiled_predicate_is_reusable_and_does_not_mutate_objects() -> None:
    predicate = compile_filter(parse_filter('givenName eq null or mail ew "@example.com"'))
    before = json.dumps(USERS, sort_keys=True)
    first = [predicate(u) for u in USERS]
    assert first == [predicate(u) for u in USERS]
    assert json.dumps(USERS, sort_keys=True) == before


def test_filter_attributes() -> None:
    f = parse_filter('/mail eq "x" and (name/givenName sw "s" or !(accountEnabled eq true)) or true')
    assert filter_attributes(f) == {"mail", "name/givenName", "accountEnabled"}
    assert filter_attributes(parse_filter("true")) == set()
