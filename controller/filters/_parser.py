"""Parses IDM queryFilter / SCIM filter text into the filter tree, with 1-based columns in every error."""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.errors import FilterSyntaxError
from controller.filters._ast import (
    OPERATORS,
    And,
    Compare,
    Filter,
    Literal,
    Not,
    Or,
    Present,
    Value,
    render_value,
)

__all__ = ["MAX_DEPTH", "parse_filter"]

#: The most parentheses and ``not`` a filter may nest (``not (`` is one level). A real filter nests two
#: or three; each level costs the parser, the evaluator and the renderers a few of Python's 1000 frames.
MAX_DEPTH = 100
# SCIM's core schemas (RFC 7643): "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName" names the
# core attribute name.familyName, which objects here hold at the top level as SCIM resources do.
_SCIM_CORE_URN = "urn:ietf:params:scim:schemas:core:2.0:"

_OPS_HINT = "use one of " + " ".join(OPERATORS)
_ORDERING = frozenset({"gt", "ge", "lt", "le"})
_STRING_ONLY = frozenset({"co", "sw", "ew"})
_SYMBOL_OPS = {
    "=": "eq", "==": "eq", "!=": "ne", "<>": "ne",
    ">": "gt", ">=": "ge", "<": "lt", "<=": "le",
}
_WORD_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_/$@")
_WORD_CHARS = _WORD_START | frozenset("0123456789-.:")
_NUMBER_CHARS = frozenset("0123456789+-.eE")
_SPACE = frozenset(" \t\r\n")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word" | "string" | "number" | "(" | ")" | "!" | "symbol" | "end"
    text: str  # source text (for strings: the decoded value)
    column: int  # 1-based
    value: Value = None


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text

    def error(self, message: str, column: int, hint: str | None = None) -> FilterSyntaxError:
        return FilterSyntaxError(message, text=self.text, column=column, hint=hint)

    def tokens(self) -> list[_Token]:
        text, n, i = self.text, len(self.text), 0
        out: list[_Token] = []
        while i < n:
            ch = text[i]
            if ch in _SPACE:
                i += 1
            elif ch in "()":
                out.append(_Token(ch, ch, i + 1))
                i += 1
            elif ch in "\"'":
                i = self._string(i, out)
            elif ch.isdigit() or (ch in "-+" and i + 1 < n and (text[i + 1].isdigit() or text[i + 1] == ".")):
                i = self._number(i, out)
            elif ch in _WORD_START:
                j = i + 1
                while j < n and text[j] in _WORD_CHARS:
                    j += 1
                out.append(_Token("word", text[i:j], i + 1))
                i = j
            elif ch in "=<>!":
                j = i + 1
                while j < n and text[j] in "=<>":
                    j += 1
                sym = text[i:j]
                if sym == "!":
                    out.append(_Token("!", sym, i + 1))
                else:
                    out.append(_Token("symbol", sym, i + 1))
                i = j
            elif ch in "&|":
                word = "and" if ch == "&" else "or"
                raise self.error(f"unexpected character {ch!r}", i + 1, hint=f"Combine filters with '{word}'")
            else:
                raise self.error(
                    f"unexpected character {ch!r}", i + 1,
                    hint='Attribute names are letters, digits, _ and /; strings are quoted: mail eq "x"',
                )
        out.append(_Token("end", "", n + 1))
        return out

    def _string(self, start: int, out: list[_Token]) -> int:
        text, n = self.text, len(self.text)
        quote = text[start]
        chars: list[str] = []
        i = start + 1
        while i < n:
            ch = text[i]
            if ch == quote:
                out.append(_Token("string", "".join(chars), start + 1, "".join(chars)))
                return i + 1
            if ch == "\\":
                if i + 1 >= n:
                    break
                nxt = text[i + 1]
                if nxt not in "\\\"'":
                    raise self.error(
                        f"unknown escape '\\{nxt}' in a string", i + 1,
                        hint='Only \\" \\\' and \\\\ are escapes; write a backslash as \\\\',
                    )
                chars.append(nxt)
                i += 2
                continue
            chars.append(ch)
            i += 1
        raise self.error(
            "unterminated string", start + 1,
            hint=f"Close it with {quote}; escape a quote inside it as \\{quote}",
        )

    def _number(self, start: int, out: list[_Token]) -> int:
        text, n = self.text, len(self.text)
        j = start + 1
        while j < n and (text[j] in _NUMBER_CHARS and (text[j] not in "+-" or text[j - 1] in "eE")):
            j += 1
        if j < n and text[j] in _WORD_CHARS:
            while j < n and text[j] in _WORD_CHARS:
                j += 1
            raise self.error(
                f"{text[start:j]!r} is not a number", start + 1,
                hint=f'Strings are quoted: "{text[start:j]}"',
            )
        raw = text[start:j]
        value: int | float
        try:
            value = int(raw)
        except ValueError:
            try:
                value = float(raw)  # also an integer too long for int() (4300 digits): inf
            except ValueError:
                raise self.error(f"{raw!r} is not a number", start + 1) from None
        if not math.isfinite(value):
            shown = raw if len(raw) <= 30 else f"{raw[:12]}...{raw[-6:]}"
            raise self.error(f"{shown!r} is too large for a number", start + 1,
                             hint="Numbers in filters are finite (at most about 1.8e308)")
        out.append(_Token("number", raw, start + 1, value))
        return j


class _Parser:
    def __init__(self, text: str) -> None:
        self.lexer = _Lexer(text)
        self.toks = self.lexer.tokens()
        self.pos = 0
        self.depth = 0  # parentheses and "not" open around the current token

    def nest(self, tok: _Token) -> None:
        """Enter one more level of parentheses or ``not``; refuse past ``MAX_DEPTH`` (before recursing)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the filter nests more than {MAX_DEPTH} levels of parentheses and 'not'", tok,
                             hint="Flatten it: (a and (b and c)) is a and b and c, and not (not x) is x")

    @property
    def tok(self) -> _Token:
        return self.toks[self.pos]

    def advance(self) -> _Token:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def error(self, message: str, tok: _Token, hint: str | None = None) -> FilterSyntaxError:
        return self.lexer.error(message, tok.column, hint)

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() in words

    def parse(self) -> Filter:
        if self.tok.kind == "end":
            raise self.error("empty filter", self.tok, hint="Write true to match every object")
        node = self.or_expr()
        tok = self.tok
        if tok.kind == ")":
            raise self.error("unexpected ')' without a matching '('", tok)
        if tok.kind != "end":
            raise self.error(f"expected 'and' or 'or' before {_describe(tok)}", tok,
                             hint=self._after_expression_hint(tok))
        return node

    def _after_expression_hint(self, tok: _Token) -> str | None:
        prev = self.toks[self.pos - 1]
        if prev.kind == "word" and prev.text.lower() == "pr" and tok.kind in ("string", "number"):
            return "'pr' takes no value: mail pr"
        return "Join conditions with and / or, and group them with parentheses"

    def or_expr(self) -> Filter:
        items = [self.and_expr()]
        while self.is_word("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(_flatten(items, Or))

    def and_expr(self) -> Filter:
        items = [self.unary()]
        while self.is_word("and"):
            self.advance()
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(_flatten(items, And))

    def unary(self) -> Filter:
        # "not not not ..." is a loop, not a recursion: a long chain meets the depth limit, not the stack's.
        nots = 0
        while self.tok.kind == "!" or self.is_word("not"):
            self.nest(self.advance())
            nots += 1
        node = self.primary()
        for _ in range(nots):
            node = Not(node)
        self.depth -= nots
        return node

    def primary(self) -> Filter:
        tok = self.tok
        if tok.kind == "(":
            # "not (x)" is one level, as the tree has one node for it (and as canonical text writes it)
            after_not = self.pos > 0 and self.toks[self.pos - 1].kind in ("!", "word") and \
                self.toks[self.pos - 1].text.lower() in ("!", "not")
            if not after_not:
                self.nest(tok)
            self.advance()
            if self.tok.kind == ")":
                raise self.error("empty parentheses", self.tok, hint="Put a condition inside: (mail pr)")
            node = self.or_expr()
            if self.tok.kind != ")":
                if self.tok.kind == "end":
                    raise self.error("missing ')'", self.tok,
                                     hint=f"The '(' at column {tok.column} is not closed")
                raise self.error(f"expected ')' or 'and'/'or' before {_describe(self.tok)}", self.tok,
                                 hint=f"The '(' at column {tok.column} is still open")
            self.advance()
            self.depth -= not after_not
            return node
        if tok.kind == "word":
            low = tok.text.lower()
            if low in ("true", "false") and not self._operator_follows():
                self.advance()
                return Literal(low == "true")
            if low in ("and", "or"):
                raise self.error(f"'{low}' needs a condition before it", tok)
            if low in OPERATORS and self._value_or_end_follows():
                raise self.error(f"expected an attribute name before '{low}'", tok,
                                 hint=f'Write the attribute first: mail {low} "x"')
            return self.comparison()
        if tok.kind == "end":
            prev = self.toks[self.pos - 1] if self.pos else tok
            raise self.error(f"expected a condition after {_describe(prev)}", tok)
        if tok.kind == ")":
            raise self.error("expected a condition before ')'", tok)
        raise self.error(f"expected an attribute name, found {_describe(tok)}", tok,
                         hint='A condition is attribute operator value: mail eq "x"')

    def _operator_follows(self) -> bool:
        nxt = self.toks[self.pos + 1]
        return nxt.kind == "symbol" or (nxt.kind == "word" and nxt.text.lower() in OPERATORS)

    def _value_or_end_follows(self) -> bool:
        return self.toks[self.pos + 1].kind in ("string", "number", "end")

    def comparison(self) -> Filter:
        attr_tok = self.advance()
        attr = self.attribute(attr_tok)
        op_tok = self.tok
        if op_tok.kind == "symbol":
            op = _SYMBOL_OPS.get(op_tok.text)
            use = f"; use {op}" if op else ""
            raise self.error(f"unknown operator {op_tok.text!r}{use}", op_tok, hint=_OPS_HINT.capitalize())
        if op_tok.kind != "word":
            if op_tok.kind == "end":
                raise self.error(f"expected an operator after {attr_tok.text!r}", op_tok,
                                 hint=_OPS_HINT.capitalize())
            raise self.error(f"expected an operator after {attr_tok.text!r}, found {_describe(op_tok)}",
                             op_tok, hint=_OPS_HINT.capitalize())
        op = op_tok.text.lower()
        if op not in OPERATORS:
            raise self.error(f"unknown operator {op_tok.text!r}", op_tok, hint=_OPS_HINT.capitalize())
        self.advance()
        if op == "pr":
            return Present(attr)
        val_tok = self.tok
        value = self.value(attr_tok.text, op, val_tok)
        self.advance()
        if op in _STRING_ONLY and not isinstance(value, str):
            raise self.error(f"'{op}' compares strings, not {render_value(value)}", val_tok,
                             hint=f'Quote the value: {attr} {op} "{val_tok.text}"')
        if op in _ORDERING and (value is None or isinstance(value, bool)):
            raise self.error(f"'{op}' needs a string or a number, not {render_value(value)}", val_tok)
        return Compare(attr, op, value)

    def attribute(self, tok: _Token) -> str:
        """The attribute path of ``tok`` as the tree keeps it: segments joined by ``/``.

        ``/a/b`` (IDM's JSON pointer), ``a/b`` and ``a.b`` (SCIM's sub-attribute) are the same path; a
        SCIM core schema URN in front (``urn:ietf:params:scim:schemas:core:2.0:User:name.familyName``)
        is dropped. Any other URN is refused: objects here do not hold extension schemas.
        """
        text = tok.text
        if text[:4].lower() == "urn:":
            if not text.lower().startswith(_SCIM_CORE_URN):
                raise self.error(f"{text!r} is an attribute of the schema {text.rpartition(':')[0]!r}, which "
                                 "objects here do not hold", tok,
                                 hint="Use the plain attribute name of a user, e.g. mail or name.familyName")
            _resource, colon, attr = text[len(_SCIM_CORE_URN):].partition(":")
            if not colon or not attr:
                raise self.error(f"{text!r} names a schema, not an attribute", tok,
                                 hint=f"Add the attribute: {text.rstrip(':')}:userName")
        else:
            attr = text[1:] if text.startswith("/") else text
        path = attr.replace(".", "/")
        if not path or path.startswith("/") or path.endswith("/") or "//" in path:
            raise self.error(f"{text!r} is not an attribute path", tok,
                             hint="Paths look like mail, /mail, name/givenName or name.givenName")
        return path

    def value(self, attr: str, op: str, tok: _Token) -> Value:
        if tok.kind in ("string", "number"):
            return tok.value
        if tok.kind == "word":
            low = tok.text.lower()
            if low == "true":
                return True
            if low == "false":
                return False
            if low == "null":
                return None
            raise self.error(f"expected a value after '{op}', found {tok.text!r}", tok,
                             hint=f'Strings are quoted: {attr} {op} "{tok.text}"')
        if tok.kind == "end":
            raise self.error(f"expected a value after '{op}'", tok,
                             hint='Values are "strings", numbers, true, false or null')
        raise self.error(f"expected a value after '{op}', found {_describe(tok)}", tok,
                         hint='Values are "strings", numbers, true, false or null')


def _describe(tok: _Token) -> str:
    if tok.kind == "end":
        return "the end of the filter"
    if tok.kind == "string":
        return "a string"
    return repr(tok.text)


def _flatten(items: list[Filter], kind: type[And] | type[Or]) -> tuple[Filter, ...]:
    out: list[Filter] = []
    for item in items:
        if isinstance(item, kind):
            out.extend(item.items)
        else:
            out.append(item)
    return tuple(out)


def parse_filter(text: str) -> Filter:
    """Parse ``text`` into a filter tree; raise ``FilterSyntaxError`` (1-based ``column``) if invalid.

    Grammar: ``or`` of ``and`` of (``not``/``!``)* primaries; a primary is ``( filter )``, ``true``,
    ``false``, ``attr pr`` or ``attr op value``. Operator and keyword case does not matter. An attribute
    is a path: ``mail``, ``/name/givenName``, ``name.givenName`` (SCIM), optionally behind SCIM's core
    schema URN. Parentheses and ``not`` nest at most ``MAX_DEPTH`` levels.
    """
    return _Parser(text).parse()
