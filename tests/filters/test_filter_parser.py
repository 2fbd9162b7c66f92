"""Parser: what parses into which tree, canonical text, and exact errors (column and message) for the rest."""

from __future__ import annotations

import pytest

from controller.errors import FilterSyntaxError, IdmctlError
from controller.filters import (
    And,
    Compare,
    Literal,
    Not,
    Or,
    Present,
    compile_filter,
    filter_attributes,
    parse_filter,
    to_graph,
)
from controller.filters._parser import MAX_DEPTH

MAIL = Compare("mail", "eq", "scarter@example.com")

GOOD = [
    # (text, tree, canonical text)
    ('mail eq "scarter@example.com"', MAIL, 'mail eq "scarter@example.com"'),
    ('/mail eq "scarter@example.com"', MAIL, 'mail eq "scarter@example.com"'),
    ("mail eq 'scarter@example.com'", MAIL, 'mail eq "scarter@example.com"'),
    ('mail EQ "scarter@example.com"', MAIL, 'mail eq "scarter@example.com"'),
    ('  mail   eq\t"scarter@example.com"  ', MAIL, 'mail eq "scarter@example.com"'),
    ("name/givenName sw \"Sam\"", Compare("name/givenName", "sw", "Sam"), 'name/givenName sw "Sam"'),
    ("/name/givenName co 'a'", Compare("name/givenName", "co", "a"), 'name/givenName co "a"'),
    ("mail pr", Present("mail"), "mail pr"),
    ("mail PR", Present("mail"), "mail pr"),
    ("givenName eq null", Compare("givenName", "eq", None), "givenName eq null"),
    ("givenName ne NULL", Compare("givenName", "ne", None), "givenName ne null"),
    ("accountEnabled eq true", Compare("accountEnabled", "eq", True), "accountEnabled eq true"),
    ("accountEnabled eq False", Compare("accountEnabled", "eq", False), "accountEnabled eq false"),
    ("age gt 17", Compare("age", "gt", 17), "age gt 17"),
    ("age ge -3", Compare("age", "ge", -3), "age ge -3"),
    ("score lt 1.5", Compare("score", "lt", 1.5), "score lt 1.5"),
    ("score le 2e3", Compare("score", "le", 2000.0), "score le 2000.0"),
    ('surname ew "son"', Compare("surname", "ew", "son"), 'surname ew "son"'),
    ('surname ne "Carter"', Compare("surname", "ne", "Carter"), 'surname ne "Carter"'),
    ('displayName gt "M"', Compare("displayName", "gt", "M"), 'displayName gt "M"'),
    ('surname eq "O\'Brien"', Compare("surname", "eq", "O'Brien"), 'surname eq "O\'Brien"'),
    ("surname eq 'O\\'Brien'", Compare("surname", "eq", "O'Brien"), 'surname eq "O\'Brien"'),
    ('title eq "say \\"hi\\""', Compare("title", "eq", 'say "hi"'), 'title eq "say \\"hi\\""'),
    ('path eq "C:\\\\temp"', Compare("path", "eq", "C:\\temp"), 'path eq "C:\\\\temp"'),
    ('mail eq ""', Compare("mail", "eq", ""), 'mail eq ""'),
    ("true", Literal(True), "true"),
    ("FALSE", Literal(False), "false"),
    ('mail pr and givenName pr', And((Present("mail"), Present("givenName"))), "mail pr and givenName pr"),
    ('mail pr AND givenName pr and surname pr',
     And((Present("mail"), Present("givenName"), Present("surname"))),
     "mail pr and givenName pr and surname pr"),
    ('mail pr or givenName pr', Or((Present("mail"), Present("givenName"))), "mail pr or givenName pr"),
    # precedence: not > and > or
    ('a pr or b pr and c pr', Or((Present("a"), And((Present("b"), Present("c"))))), "a pr or b pr and c pr"),
    ('(a pr or b pr) and c pr', And((Or((Present("a"), Present("b"))), Present("c"))),
     "(a pr or b pr) and c pr"),
    ('not a pr and b pr', And((Not(Present("a")), Present("b"))), "not (a pr) and b pr"),
    ('not (a pr and b pr)', Not(And((Present("a"), Present("b")))), "not (a pr and b pr)"),
    ('!(mail eq "x")', Not(Compare("mail", "eq", "x")), 'not (mail eq "x")'),
    ('!mail pr', Not(Present("mail")), "not (mail pr)"),
    ("not not a pr", Not(Not(Present("a"))), "not (not (a pr))"),
    ("not true", Not(Literal(True)), "not true"),
    ("(((mail pr)))", Present("mail"), "mail pr"),
    ('a pr and (b pr and c pr)', And((Present("a"), Present("b"), Present("c"))), "a pr and b pr and c pr"),
    ('(a pr or b pr) or c pr', Or((Present("a"), Present("b"), Present("c"))), "a pr or b pr or c pr"),
    ('true and mail pr', And((Literal(True), Present("mail"))), "true and mail pr"),
    ("true eq 'x'", Compare("true", "eq", "x"), 'true eq "x"'),
    ('extension_abc123_costCenter eq "42"', Compare("extension_abc123_costCenter", "eq", "42"),
     'extension_abc123_costCenter eq "42"'),
    ('userPrincipalName eq "a_contoso.com#EXT#@tenant.onmicrosoft.com"',
     Compare("userPrincipalName", "eq", "a_contoso.com#EXT#@tenant.onmicrosoft.com"),
     'userPrincipalName eq "a_contoso.com#EXT#@tenant.onmicrosoft.com"'),
    # SCIM attribute paths (RFC 7644 3.10): a.b is the sub-attribute b of a, the path a/b
    ('name.familyName co "O\'Malley"', Compare("name/familyName", "co", "O'Malley"),
     'name/familyName co "O\'Malley"'),
    ('meta.lastModified gt "2011-05-13T04:42:34Z"', Compare("meta/lastModified", "gt", "2011-05-13T04:42:34Z"),
     'meta/lastModified gt "2011-05-13T04:42:34Z"'),
    ('emails.value ew "@example.com"', Compare("emails/value", "ew", "@example.com"),
     'emails/value ew "@example.com"'),
    ('/name.givenName pr', Present("name/givenName"), "name/givenName pr"),
    # ...and behind SCIM's core schema URN, which names the same (top-level) attribute
    ('urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "Jensen"',
     Compare("name/familyName", "eq", "Jensen"), 'name/familyName eq "Jensen"'),
    ('URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:User:userName sw "b"', Compare("userName", "sw", "b"),
     'userName sw "b"'),
    ("urn:ietf:params:scim:schemas:core:2.0:Group:displayName pr", Present("displayName"), "displayName pr"),
]


@pytest.mark.parametrize(("text", "tree", "canonical"), GOOD, ids=[g[0] for g in GOOD])
def test_parses_into_tree_and_canonical_text(text: str, tree: object, canonical: str) -> None:
    parsed = parse_filter(text)
    assert parsed == tree
    assert str(parsed) == canonical
    assert parse_filter(canonical) == parsed


BAD = [
    # (text, column, message, hint fragment or None)
    ("", 1, "empty filter", "Write true to match every object"),
    ("   ", 4, "empty filter", None),
    ('mail equals "x"', 6, "unknown operator 'equals'", "Use one of eq ne co sw ew pr gt ge lt le"),
    ('mail EQUALS "x"', 6, "unknown operator 'EQUALS'", "Use one of eq"),
    ('mail = "x"', 6, "unknown operator '='; use eq", "Use one of eq"),
    ('mail == "x"', 6, "unknown operator '=='; use eq", None),
    ('mail != "x"', 6, "unknown operator '!='; use ne", None),
    ("age >= 3", 5, "unknown operator '>='; use ge", None),
    ("mail eq scarter", 9, "expected a value after 'eq', found 'scarter'",
     'Strings are quoted: mail eq "scarter"'),
    ("mail eq", 8, "expected a value after 'eq'", 'Values are "strings", numbers, true, false or null'),
    ("mail eq )", 9, "expected a value after 'eq', found ')'", None),
    ("mail", 5, "expected an operator after 'mail'", "Use one of"),
    ('mail "x"', 6, "expected an operator after 'mail', found a string", None),
    ('mail eq "abc', 9, "unterminated string", 'Close it with "'),
    ("mail eq 'abc", 9, "unterminated string", "Close it with '"),
    ('mail eq "ab\\', 9, "unterminated string", None),
    ('mail eq "a\\nb"', 11, "unknown escape '\\n' in a string", "Only"),
    ('(mail pr', 9, "missing ')'", "The '(' at column 1 is not closed"),
    ('((mail pr)', 11, "missing ')'", "The '(' at column 1 is not closed"),
    ('(mail pr givenName pr)', 10, "expected ')' or 'and'/'or' before 'givenName'",
     "The '(' at column 1 is still open"),
    ('mail pr)', 8, "unexpected ')' without a matching '('", None),
    ('()', 2, "empty parentheses", None),
    ('mail pr "x"', 9, "expected 'and' or 'or' before a string", "'pr' takes no value"),
    ('mail eq "x" givenName pr', 13, "expected 'and' or 'or' before 'givenName'", "Join conditions"),
    ('mail eq "x" && givenName pr', 13, "unexpected character '&'", "Combine filters with 'and'"),
    ('mail eq "x" || givenName pr', 13, "unexpected character '|'", "Combine filters with 'or'"),
    ('mail eq "x" # y', 13, "unexpected character '#'", None),
    ('eq "x"', 1, "expected an attribute name before 'eq'", 'Write the attribute first: mail eq "x"'),
    ('and mail pr', 1, "'and' needs a condition before it", None),
    ('mail pr and', 12, "expected a condition after 'and'", None),
    ('mail pr or', 11, "expected a condition after 'or'", None),
    ('not', 4, "expected a condition after 'not'", None),
    ('!', 2, "expected a condition after '!'", None),
    ('mail pr and )', 13, "expected a condition before ')'", None),
    ('"x" eq mail', 1, "expected an attribute name, found a string", "A condition is attribute operator value"),
    ('42 eq age', 1, "expected an attribute name, found '42'", None),
    ('mail co 5', 9, "'co' compares strings, not 5", 'Quote the value: mail co "5"'),
    ('mail sw true', 9, "'sw' compares strings, not true", None),
    ('mail ew null', 9, "'ew' compares strings, not null", None),
    ('age gt true', 8, "'gt' needs a string or a number, not true", None),
    ('age le null', 8, "'le' needs a string or a number, not null", None),
    ('age eq 12ab', 8, "'12ab' is not a number", 'Strings are quoted: "12ab"'),
    ('age eq 1.2.3', 8, "'1.2.3' is not a number", None),
    ("age gt 1e999", 8, "'1e999' is too large for a number", "Numbers in filters are finite"),
    ("age gt -1e400 or a pr", 8, "'-1e400' is too large for a number", None),
    ('/ eq "x"', 1, "'/' is not an attribute path", "Paths look like mail, /mail, name/givenName or name.givenName"),
    ('name//given eq "x"', 1, "'name//given' is not an attribute path", None),
    ('name/ eq "x"', 1, "'name/' is not an attribute path", None),
    ('name..familyName eq "x"', 1, "'name..familyName' is not an attribute path", None),
    ('name. eq "x"', 1, "'name.' is not an attribute path", None),
    ('mail pr and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7"', 13,
     "'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber' is an attribute of the schema "
     "'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', which objects here do not hold",
     "Use the plain attribute name"),
    ("urn:ietf:params:scim:schemas:core:2.0:User pr", 1,
     "'urn:ietf:params:scim:schemas:core:2.0:User' names a schema, not an attribute",
     "Add the attribute: urn:ietf:params:scim:schemas:core:2.0:User:userName"),
]


@pytest.mark.parametrize(("text", "column", "message", "hint"), BAD, ids=[b[0] or "<empty>" for b in BAD])
def test_rejects_with_exact_column_and_message(text: str, column: int, message: str, hint: str | None) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    err = info.value
    assert err.column == column
    assert err.reason == message
    assert err.text == text
    assert f"at column {column} of {text!r}" in str(err)
    if hint is not None:
        assert err.hint is not None and hint in err.hint


def test_error_is_an_idmctl_error_with_one_line_message() -> None:
    with pytest.raises(IdmctlError) as info:
        parse_filter('mail equals "scarter@example.com"')
    assert str(info.value) == (
        "unknown operator 'equals' at column 6 of 'mail equals \"scarter@example.com\"'. "
        "Use one of eq ne co sw ew pr gt ge lt le"
    )
    assert info.value.exit_code == 1


def test_nodes_are_frozen_and_hashable() -> None:
    node = parse_filter('mail eq "x" and not (givenName pr)')
    assert hash(node) == hash(parse_filter('mail eq "x" and not (givenName pr)'))
    with pytest.raises(AttributeError):
        node.items = ()  # type: ignore[misc]


# --- depth: hostile nesting is a located FilterSyntaxError, never a RecursionError ----------------


@pytest.mark.parametrize(("opener", "closer"), [("(", ")"), ("not (", ")"), ("not ", ""), ("!", ""), ("!(", ")")],
                         ids=["parens", "not-parens", "not", "bang", "bang-parens"])
def test_nesting_deeper_than_the_limit_is_refused_at_its_column(opener: str, closer: str) -> None:
    text = opener * 2000 + "mail pr" + closer * 2000
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    err = info.value
    assert err.reason == f"the filter nests more than {MAX_DEPTH} levels of parentheses and 'not'"
    assert err.column == len(opener) * MAX_DEPTH + 1  # the opener of level MAX_DEPTH + 1 ("not (" is one)
    assert err.hint is not None and "Flatten it" in err.hint
    assert len(str(err)) < 300  # the 14,000-character filter is shown as an excerpt around the column


@pytest.mark.parametrize("opener", ["(", "not (", "not "])
def test_nesting_at_the_limit_still_works_everywhere(opener: str) -> None:
    closer = ")" if opener.endswith("(") else ""
    reps = MAX_DEPTH
    text = opener * reps + 'mail eq "x"' + closer * reps
    tree = parse_filter(text)
    assert parse_filter(str(tree)) == tree
    assert filter_attributes(tree) == {"mail"}
    negated = "not" in opener and reps % 2 == 1
    assert compile_filter(tree)({"mail": "X"}) is not negated
    to_graph(tree).describe()


def test_long_flat_filters_are_not_nesting() -> None:
    tree = parse_filter(" and ".join(f"(a{i} pr)" for i in range(5000)))
    assert isinstance(tree, And) and len(tree.items) == 5000


def test_an_integer_too_long_for_python_is_too_large_not_a_crash() -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter("age gt " + "9" * 5000)
    assert (info.value.column, info.value.reason) == (8, "'999999999999...999999' is too large for a number")
