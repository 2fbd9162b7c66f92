"""Graph push-down: the translation table, and a property test that splitting never changes a result.

The property test parses the emitted OData back (a small reader for the subset ``to_graph`` emits:
``eq``, ``in``, ``startswith``, ``and``, ``or``, parentheses) and evaluates it with the local evaluator,
which compares strings case-insensitively as Graph does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.filters import (
    And,
    Compare,
    Filter,
    GraphFilterPlan,
    Literal,
    Not,
    Or,
    Present,
    compile_filter,
    evaluate,
    parse_filter,
    to_graph,
)

USERS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "graph-users.json").read_text(encoding="utf-8")
)["value"]

TABLE = [
    # (filter, pushdown, local)
    ('mail eq "scarter@example.com"', "mail eq 'scarter@example.com'", None),
    ('/mail eq "scarter@example.com"', "mail eq 'scarter@example.com'", None),
    ('surname eq "O\'Brien"', "surname eq 'O''Brien'", None),
    ("accountEnabled eq false", "accountEnabled eq false", None),
    # a string never equals a boolean (as in IDM): not pushed as `accountEnabled eq true`
    ('accountEnabled eq "True"', None, 'accountEnabled eq "True"'),
    ('displayName sw "Conf"', "startswith(displayName,'Conf')", None),
    ('userPrincipalName eq "a_contoso.com#EXT#@t.onmicrosoft.com"',
     "userPrincipalName eq 'a_contoso.com#EXT#@t.onmicrosoft.com'", None),
    ('id eq "87d349ed-44d7-43e1-9a83-5f2406dee5bd" or id eq "48d31887-5fad-4d73-a9f5-3c356e68a038"',
     "id in ('87d349ed-44d7-43e1-9a83-5f2406dee5bd', '48d31887-5fad-4d73-a9f5-3c356e68a038')", None),
    ('mail eq "a@x" or mail eq "b@x" or givenName sw "S"',
     "mail in ('a@x', 'b@x') or startswith(givenName,'S')", None),
    ('department eq "Sales" and accountEnabled eq true', "department eq 'Sales' and accountEnabled eq true", None),
    ('(department eq "Sales" or department eq "Retail") and employeeId sw "E1"',
     "department in ('Sales', 'Retail') and startswith(employeeId,'E1')", None),
    ('(mail eq "a@x" and givenName eq "A") or surname eq "B"',
     "(mail eq 'a@x' and givenName eq 'A') or surname eq 'B'", None),
    # AND: supported conjuncts go to Graph, the rest stays local
    ('mail eq "scarter@example.com" and jobTitle co "Engineer"',
     "mail eq 'scarter@example.com'", 'jobTitle co "Engineer"'),
    ('accountEnabled eq true and not (givenName eq null)', "accountEnabled eq true", "not (givenName eq null)"),
    ('userType eq "Member" and mobilePhone pr and displayName sw "A"',
     "userType eq 'Member' and startswith(displayName,'A')", "mobilePhone pr"),
    # OR: all or nothing
    ('mail eq "a@x" or jobTitle co "x"', None, 'mail eq "a@x" or jobTitle co "x"'),
    ('mail eq "a@x" or not (mail pr)', None, 'mail eq "a@x" or not (mail pr)'),
    # advanced-only operators and properties stay local
    ('mail ne "a@x"', None, 'mail ne "a@x"'),
    ('not (mail eq "a@x")', None, 'not (mail eq "a@x")'),
    ('mail ew "@example.com"', None, 'mail ew "@example.com"'),
    ('mail co "carter"', None, 'mail co "carter"'),
    ("mail pr", None, "mail pr"),
    ("givenName eq null", None, "givenName eq null"),
    ('givenName ge "M"', None, 'givenName ge "M"'),
    ('mobilePhone eq "+1 425 555 0109"', None, 'mobilePhone eq "+1 425 555 0109"'),
    ('officeLocation eq "20/1101"', None, 'officeLocation eq "20/1101"'),
    ('businessPhones eq "+1 425 555 0109"', None, 'businessPhones eq "+1 425 555 0109"'),
    ('companyName eq "Contoso"', None, 'companyName eq "Contoso"'),
    ('jobTitle sw "Sales"', None, 'jobTitle sw "Sales"'),  # jobTitle: eq by default, startsWith advanced
    ('id sw "87d"', None, 'id sw "87d"'),
    # wrong types or shapes for Graph stay local so both sides always agree
    ('Mail eq "a@x"', None, 'Mail eq "a@x"'),  # property names are exact
    ('manager/mail eq "a@x"', None, 'manager/mail eq "a@x"'),
    ("employeeId eq 1001", None, "employeeId eq 1001"),
    ("displayName eq true", None, "displayName eq true"),
    ('accountEnabled eq "yes"', None, 'accountEnabled eq "yes"'),
    # SCIM paths are nested: never pushed as a property of that name; a core URN names the plain property
    ('name.familyName eq "Jensen"', None, 'name/familyName eq "Jensen"'),
    ('manager.mail eq "a@x" and mail eq "b@x"', "mail eq 'b@x'", 'manager/mail eq "a@x"'),
    ('emails.value eq "a@x" or mail eq "a@x"', None, 'emails/value eq "a@x" or mail eq "a@x"'),
    ('urn:ietf:params:scim:schemas:core:2.0:User:displayName eq "Sam"', "displayName eq 'Sam'", None),
    ('mail eq ""', None, 'mail eq ""'),
    ('displayName sw ""', None, 'displayName sw ""'),
    # literals
    ("true", None, None),
    ("false", None, "false"),
    ('true and mail eq "a@x"', "mail eq 'a@x'", None),
    ('mail eq "a@x" and false', "mail eq 'a@x'", "false"),
]


@pytest.mark.parametrize(("text", "pushdown", "local"), TABLE, ids=[t[0] for t in TABLE])
def test_translation_table(text: str, pushdown: str | None, local: str | None) -> None:
    plan = to_graph(parse_filter(text))
    assert plan.pushdown == pushdown
    assert (str(plan.local) if plan.local is not None else None) == local


def test_describe_for_validate() -> None:
    plan = to_graph(parse_filter('mail eq "scarter@example.com"'))
    assert plan.describe() == "pushed down to Graph: mail eq 'scarter@example.com'; evaluated locally: none"
    plan = to_graph(parse_filter('accountEnabled eq true and jobTitle co "Engineer"'))
    assert plan.describe() == (
        "pushed down to Graph: accountEnabled eq true; evaluated locally: jobTitle co \"Engineer\""
    )
    assert to_graph(parse_filter("true")).describe() == (
        "pushed down to Graph: none; evaluated locally: none"
    )


@pytest.mark.parametrize(("text", "message", "hint"), [
    ('accountEnabled eq "true"', "'accountEnabled eq \"true\"' compares Graph's boolean property accountEnabled with "
     "a string; values of different types never match (as in IDM)", "Write accountEnabled eq true"),
    ('accountEnabled ne "False"', None, "Write accountEnabled ne false"),
    ('accountEnabled eq "yes"', None, "accountEnabled is true or false: write accountEnabled eq true"),
    ("mail eq 5", "'mail eq 5' compares Graph's string property mail with a number; values of different types "
     "never match (as in IDM)", 'Quote the value: mail eq "5"'),
    ('givenName pr and not (displayName eq true)', None, 'Quote the value: displayName eq "true"'),
])
def test_type_mismatches_are_reported(text: str, message: str | None, hint: str) -> None:
    [mismatch] = to_graph(parse_filter(text)).mismatches
    if message is not None:
        assert mismatch.describe() == message
    assert mismatch.hint() == hint


@pytest.mark.parametrize("text", ['accountEnabled eq true', 'mail eq "5"', "mail eq null", "nosuch eq 5",
                                  "businessPhones eq 5", 'accountEnabled eq null'])
def test_no_mismatch_where_the_types_agree_or_are_unknown(text: str) -> None:
    assert to_graph(parse_filter(text)).mismatches == ()


def test_plan_is_frozen() -> None:
    plan = to_graph(parse_filter("mail pr"))
    assert isinstance(plan, GraphFilterPlan)
    with pytest.raises(AttributeError):
        plan.pushdown = "x"  # type: ignore[misc]


def test_in_is_limited_to_15_expressions() -> None:
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(16)]
    fifteen = " or ".join(f'id eq "{i}"' for i in ids[:15])
    assert to_graph(parse_filter(fifteen)).pushdown == "id in (" + ", ".join(f"'{i}'" for i in ids[:15]) + ")"
    sixteen = " or ".join(f'id eq "{i}"' for i in ids)
    plan = to_graph(parse_filter(sixteen))
    assert plan.pushdown is None
    assert plan.local == parse_filter(sixteen)
    # in an AND the budget is shared: what does not fit stays local
    plan = to_graph(parse_filter(f'({fifteen}) and accountEnabled eq true'))
    assert plan.pushdown is not None and plan.pushdown.startswith("id in (")
    assert str(plan.local) == "accountEnabled eq true"


def test_eq_value_longer_than_120_characters_stays_local() -> None:
    long = "x" * 121
    assert to_graph(parse_filter(f'displayName eq "{long}"')).pushdown is None
    assert to_graph(parse_filter(f'displayName eq "{long[:120]}"')).pushdown == f"displayName eq '{long[:120]}'"


def test_pushed_tree_matches_pushdown() -> None:
    plan = to_graph(parse_filter('mail eq "a@x" and mobilePhone pr and givenName sw "S"'))
    assert plan.pushed == And((Compare("mail", "eq", "a@x"), Compare("givenName", "sw", "S")))
    assert plan.local == Present("mobilePhone")


@pytest.mark.parametrize("text", [t[0] for t in TABLE])
def test_split_agrees_with_full_filter_on_sample_users(text: str) -> None:
    f = parse_filter(text)
    plan = to_graph(f)
    for user in USERS:
        assert evaluate(f, user) == _split_result(plan, user), (text, user["displayName"])


# --- reading the OData subset back ----------------------------------------------------------------

_ODATA_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))")


def _odata_tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _ODATA_TOKEN.match(text, pos)
        assert m is not None and m.end() > pos, f"bad OData at {pos}: {text!r}"
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def parse_odata(text: str) -> Filter:
    """Read the OData ``to_graph`` emits back into a filter tree (Graph's meaning of each construct)."""
    toks = _odata_tokens(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return toks[pos] if pos < len(toks) else None

    def take(expected: str | None = None) -> tuple[str, str]:
        nonlocal pos
        tok = toks[pos]
        assert expected is None or tok[1] == expected, (tok, expected, text)
        pos += 1
        return tok

    def literal() -> str | bool:
        kind, raw = take()
        if kind == "str":
            return raw[1:-1].replace("''", "'")
        assert raw in ("true", "false"), raw
        return raw == "true"

    def disjunction() -> Filter:
        items = [conjunction()]
        while peek() == ("word", "or"):
            take()
            items.append(conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction() -> Filter:
        items = [primary()]
        while peek() == ("word", "and"):
            take()
            items.append(primary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def primary() -> Filter:
        if peek() == ("punct", "("):
            take()
            inner = disjunction()
            take(")")
            return inner
        _, name = take()
        if name == "startswith":
            take("(")
            _, prop = take()
            take(",")
            value = literal()
            take(")")
            return Compare(prop, "sw", value)
        _, op = take()
        if op == "eq":
            return Compare(name, "eq", literal())
        assert op == "in", op
        take("(")
        values = [literal()]
        while peek() == ("punct", ","):
            take()
            values.append(literal())
        take(")")
        eqs = tuple(Compare(name, "eq", v) for v in values)
        return eqs[0] if len(eqs) == 1 else Or(eqs)

    tree = disjunction()
    assert pos == len(toks), text
    return tree


def _split_result(plan: GraphFilterPlan, obj: dict[str, Any]) -> bool:
    graph_keeps = plan.pushdown is None or evaluate(parse_odata(plan.pushdown), obj)
    return graph_keeps and (plan.local is None or evaluate(plan.local, obj))


def test_odata_reader_reads_what_to_graph_emits() -> None:
    plan = to_graph(parse_filter(
        '(mail eq "a@x" or mail eq "O\'b@x") and (givenName sw "S" or accountEnabled eq false)'
    ))
    assert plan.pushdown == "mail in ('a@x', 'O''b@x') and (startswith(givenName,'S') or accountEnabled eq false)"
    assert parse_odata(plan.pushdown) == And((
        Or((Compare("mail", "eq", "a@x"), Compare("mail", "eq", "O'b@x"))),
        Or((Compare("givenName", "sw", "S"), Compare("accountEnabled", "eq", False))),
    ))


# --- property: the split never changes the result -----------------------------------------------

_PUSHABLE = ["mail", "givenName", "surname", "displayName", "userPrincipalName", "id", "jobTitle",
             "employeeId", "accountEnabled"]
_LOCAL_ONLY = ["mobilePhone", "businessPhones", "otherMails", "Mail", "manager/mail"]
_ATTRS = _PUSHABLE + _LOCAL_ONLY
_WORDS = ["sam", "Sam", "SAM", "s", "O'Brien", "o'brien", 'say "hi"', "", "true", "FALSE", "+1 425",
          "x" * 121, "E1"]

strings = st.sampled_from(_WORDS)
scalars = st.one_of(strings, st.booleans(), st.integers(-2, 2), st.none())


@st.composite
def comparisons(draw: st.DrawFn) -> Filter:
    attr = draw(st.sampled_from(_ATTRS))
    op = draw(st.sampled_from(["eq", "eq", "eq", "ne", "co", "sw", "sw", "ew", "pr", "gt", "ge", "lt", "le"]))
    if op == "pr":
        return Present(attr)
    if op in ("co", "sw", "ew"):
        return Compare(attr, op, draw(strings))
    if op in ("gt", "ge", "lt", "le"):
        return Compare(attr, op, draw(st.one_of(strings, st.integers(-2, 2))))
    return Compare(attr, op, draw(scalars))


def _combine(kind: type[And] | type[Or], children: list[Filter]) -> Filter:
    flat: list[Filter] = []
    for child in children:
        flat.extend(child.items if isinstance(child, kind) else (child,))
    return kind(tuple(flat))


filters = st.recursive(
    st.one_of(comparisons(), st.builds(Literal, st.booleans())),
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.lists(inner, min_size=2, max_size=4).map(lambda xs: _combine(And, xs)),
        st.lists(inner, min_size=2, max_size=4).map(lambda xs: _combine(Or, xs)),
    ),
    max_leaves=10,
)

attr_values = st.one_of(
    st.none(), strings, st.booleans(), st.integers(-2, 2),
    st.lists(st.one_of(strings, st.none()), max_size=3),
)


@st.composite
def users(draw: st.DrawFn) -> dict[str, Any]:
    user: dict[str, Any] = {}
    for attr in ["mail", "givenName", "surname", "displayName", "userPrincipalName", "id", "jobTitle",
                 "employeeId", "mobilePhone", "businessPhones", "otherMails"]:
        if draw(st.booleans()):
            user[attr] = draw(attr_values)
    if draw(st.booleans()):
        user["accountEnabled"] = draw(st.one_of(st.booleans(), st.none()))
    if draw(st.booleans()):
        user["manager"] = {"mail": draw(st.one_of(strings, st.none()))}
    return user


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=filters, user=users())
def test_split_never_changes_the_result(f: Filter, user: dict[str, Any]) -> None:
    plan = to_graph(f)
    assert compile_filter(f)(user) == _split_result(plan, user)
    if plan.pushed is not None:
        assert evaluate(plan.pushed, user) == evaluate(parse_odata(plan.pushdown or ""), user)


@settings(max_examples=300, deadline=None)
@given(f=filters)
def test_canonical_text_round_trips(f: Filter) -> None:
    assert parse_filter(str(f)) == f
