"""KSC's search filters as the simulated Administration Server reads them (docs/ksc-wire.md, section 8).

The grammar is KSC's: ``(attr op value)``, ``(&(...)(...))``, ``(|(...)(...))``,
``(!(...))``; operators ``=``, ``<>``, ``>``, ``<``; bit tests
``(attr & mask = bits)``; ``(attr)`` tests not-null. Strings are double-quoted
with an inner ``"`` doubled; with ``=`` a string is a pattern (``*``, ``?``,
``[a-f]``, ``[^a-f]``). Times are ``T"YYYY-MM-DD hh:mm:ss"`` (UTC) or
``CURTIME(<+-seconds>)``.

This is the simulator's own reader, written from the spec and kept apart from
the portal's writer (ksc_client/filters.py): a bug in one must not hide in
the other, and the simulator stands alone as KSC does.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Any

_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class FilterSyntaxError(ValueError):
    """A filter string does not parse; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int):
        super().__init__(f"{message} at position {position}")
        self.position = position


@dataclass(frozen=True)
class Literal:
    kind: str  # "string", "number", "time", "curtime", "bool"
    value: Any


@dataclass(frozen=True)
class Comparison:
    attribute: str
    operator: str
    literal: Literal


@dataclass(frozen=True)
class BitTest:
    attribute: str
    mask: int
    bits: int


@dataclass(frozen=True)
class Present:
    attribute: str


@dataclass(frozen=True)
class AllOf:
    items: tuple


@dataclass(frozen=True)
class AnyOf:
    items: tuple


@dataclass(frozen=True)
class Not:
    item: Any


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, message: str) -> FilterSyntaxError:
        return FilterSyntaxError(message, self.pos)

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def peek(self, token: str) -> bool:
        self.skip()
        return self.text.startswith(token, self.pos)

    def expect(self, token: str) -> None:
        if not self.peek(token):
            raise self.fail(f"expected {token!r}")
        self.pos += len(token)

    def parse(self) -> Any:
        self.skip()
        # Kaspersky's own samples pass a bare comparison ("KLINCDT_IS_HANDLED=1") without parentheses.
        node = self.filter() if self.peek("(") else self.item()
        self.skip()
        if self.pos != len(self.text):
            raise self.fail("unexpected text after the filter")
        return node

    def filter(self) -> Any:
        self.expect("(")
        node = self.item()
        self.expect(")")
        return node

    def item(self) -> Any:
        if self.peek("&") or self.peek("|"):
            operator = self.text[self.pos]
            self.pos += 1
            items = []
            while self.peek("("):
                items.append(self.filter())
            if not items:
                raise self.fail(f"{operator} needs at least one (...) operand")
            return AllOf(tuple(items)) if operator == "&" else AnyOf(tuple(items))
        if self.peek("!"):
            self.pos += 1
            return Not(self.filter())
        attribute = self.attribute()
        if self.peek(")") or self.pos >= len(self.text):
            return Present(attribute)
        if self.peek("&"):
            self.pos += 1
            mask = self.number()
            self.expect("=")
            return BitTest(attribute, mask, self.number())
        for operator in ("<>", "=", ">", "<"):
            if self.peek(operator):
                self.pos += len(operator)
                return Comparison(attribute, operator, self.literal())
        raise self.fail("expected an operator (=, <>, >, <)")

    def attribute(self) -> str:
        self.skip()
        match = _ATTRIBUTE.match(self.text, self.pos)
        if not match:
            raise self.fail("expected an attribute name")
        self.pos = match.end()
        return match.group()

    def number(self) -> int:
        self.skip()
        match = re.compile(r"[+-]?\d+").match(self.text, self.pos)
        if not match:
            raise self.fail("expected a number")
        self.pos = match.end()
        return int(match.group())

    def string(self) -> str:
        self.expect('"')
        out = []
        while True:
            end = self.text.find('"', self.pos)
            if end < 0:
                raise self.fail("unterminated string")
            out.append(self.text[self.pos : end])
            self.pos = end + 1
            if self.text.startswith('"', self.pos):  # a doubled quote is one literal quote
                out.append('"')
                self.pos += 1
                continue
            return "".join(out)

    def literal(self) -> Literal:
        self.skip()
        if self.peek('T"'):
            self.pos += 1
            start = self.pos
            text = self.string()
            try:
                value = dt.datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=dt.UTC)
            except ValueError:
                self.pos = start
                raise self.fail('expected a time T"YYYY-MM-DD hh:mm:ss"') from None
            return Literal("time", value)
        if self.peek('"'):
            return Literal("string", self.string())
        if self.peek("CURTIME("):
            self.pos += len("CURTIME(")
            offset = self.number() if not self.peek(")") else 0
            self.expect(")")
            return Literal("curtime", offset)
        for word, value in (("true", True), ("false", False)):
            if self.text.startswith(word, self.pos) and not _ATTRIBUTE.match(self.text, self.pos + len(word)):
                self.pos += len(word)
                return Literal("bool", value)
        return Literal("number", self.number())


def parse(text: str) -> Any:
    """The filter as a tree of Comparison/BitTest/Present/AllOf/AnyOf/Not; FilterSyntaxError if malformed."""
    if not isinstance(text, str):
        raise FilterSyntaxError("the filter must be a string", 0)
    if not text.strip():
        raise FilterSyntaxError("the filter is empty", 0)
    return _Parser(text).parse()


# Attribute kinds a collection declares for check() and matches().
STRING, NUMBER, TIME, BOOL, FULLTEXT = "string", "number", "time", "bool", "fulltext"
_ACCEPTS = {
    STRING: {"string"},
    NUMBER: {"number"},
    TIME: {"time", "curtime"},
    BOOL: {"bool", "number"},
    FULLTEXT: {"string"},
}


def check(node: Any, schema: dict[str, str]) -> None:
    """Refuse unknown attributes and values of the wrong kind (FilterSyntaxError, position 0)."""
    if isinstance(node, (AllOf, AnyOf)):
        for item in node.items:
            check(item, schema)
        return
    if isinstance(node, Not):
        check(node.item, schema)
        return
    if node.attribute not in schema:
        raise FilterSyntaxError(f"unknown attribute {node.attribute}", 0)
    kind = schema[node.attribute]
    if isinstance(node, BitTest) and kind != NUMBER:
        raise FilterSyntaxError(f"{node.attribute} is not a number; no bit test", 0)
    if isinstance(node, Comparison):
        if node.literal.kind not in _ACCEPTS[kind]:
            raise FilterSyntaxError(f"{node.attribute} cannot be compared with a {node.literal.kind}", 0)
        if kind == FULLTEXT and node.operator != "=":
            raise FilterSyntaxError(f"{node.attribute} is full-text: only = applies", 0)
        if kind == BOOL and node.operator not in ("=", "<>"):
            raise FilterSyntaxError(f"{node.attribute} is a boolean: only = and <> apply", 0)
        if node.literal.kind == "string" and node.operator == "=":
            pattern_regex(node.literal.value)  # refuses an unclosed [


@functools.lru_cache(maxsize=4096)
def pattern_regex(pattern: str) -> re.Pattern:
    """A KSC ``=`` pattern as a compiled regex (case-insensitive, whole value); kept, as a filter
    compares each of its patterns with every host (a campaign's list: thousands of times)."""
    out, index = [], 0
    while index < len(pattern):
        ch = pattern[index]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            # The first character after [ or [^ is a member even when it is ], as in LIKE.
            first = index + (2 if pattern.startswith("[^", index) else 1)
            end = pattern.find("]", first + 1)
            if end < 0:
                raise FilterSyntaxError("unclosed [ in a pattern", 0)
            body = pattern[index + 1 : end]
            negated = body.startswith("^")
            body = body[1:] if negated else body
            parts = []
            for j, member in enumerate(body):
                if member == "-" and 0 < j < len(body) - 1:
                    parts.append("-")
                else:
                    parts.append(re.escape(member))
            out.append("[" + ("^" if negated else "") + "".join(parts) + "]")
            index = end
        else:
            out.append(re.escape(ch))
        index += 1
    try:
        return re.compile("".join(out), re.IGNORECASE | re.DOTALL)
    except re.error as exc:
        raise FilterSyntaxError(f"bad character class in a pattern: {exc}", 0) from None


def _fulltext(query: str, text: str) -> bool:
    # A stand-in for KSC's full-text search: every word of the query is a word of the
    # text (ignoring case); a word ending in * matches as a prefix.
    words = set(re.findall(r"\w+", text.casefold()))
    terms = re.findall(r"\w+\*?", query.casefold())
    return all(
        any(word.startswith(term[:-1]) for word in words) if term.endswith("*") else term in words for term in terms
    )


def _literal_value(literal: Literal, now: dt.datetime) -> Any:
    if literal.kind == "curtime":
        return now.replace(microsecond=0) + dt.timedelta(seconds=literal.value)
    return literal.value


def _compare(left: Any, operator: str, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        left, right = left.casefold(), right.casefold()
    try:
        if operator == "=":
            return left == right
        if operator == "<>":
            return left != right
        if operator == ">":
            return left > right
        return left < right
    except TypeError:
        return False


def matches(node: Any, row: dict[str, Any], schema: dict[str, str], now: dt.datetime) -> bool:
    """Whether a row of decoded values (str, int, bool, aware datetime) satisfies the filter."""
    if isinstance(node, AllOf):
        return all(matches(item, row, schema, now) for item in node.items)
    if isinstance(node, AnyOf):
        return any(matches(item, row, schema, now) for item in node.items)
    if isinstance(node, Not):
        return not matches(node.item, row, schema, now)
    value = row.get(node.attribute)
    if isinstance(node, Present):
        return value is not None and value != ""
    if value is None:
        return False
    if isinstance(node, BitTest):
        return isinstance(value, int) and (value & node.mask) == node.bits
    kind = schema[node.attribute]
    right = _literal_value(node.literal, now)
    if kind == FULLTEXT:
        return isinstance(value, str) and _fulltext(right, value)
    if kind == BOOL:
        return _compare(bool(value), node.operator, bool(right))
    if kind == STRING and node.operator == "=":
        return isinstance(value, str) and pattern_regex(right).fullmatch(value) is not None
    return _compare(value, node.operator, right)


def _plain_equality(node: Any, schema: dict[str, str]) -> Any:
    """The key an ``(attr = value)`` comparison is looked up by (None: not a plain equality).

    A string without pattern characters is compared whole, any case; a number as it is.
    """
    if not isinstance(node, Comparison) or node.operator != "=":
        return None
    kind = schema.get(node.attribute)
    if kind == STRING and node.literal.kind == "string" and not any(ch in "*?[" for ch in node.literal.value):
        return node.literal.value.casefold()
    if kind == NUMBER and node.literal.kind == "number":
        return node.literal.value
    return None


def predicate(node: Any, schema: dict[str, str], now: dt.datetime):
    """``matches`` as a function of the row, prepared once for a filter read against many rows.

    An ``(|...)`` of many plain equalities (a campaign's pasted list: hundreds of names, FQDNs,
    ids and addresses) looks each row's values up instead of comparing every clause with every
    row; a candidate is still confirmed by ``matches``, so the answer is the same.
    """
    if isinstance(node, AnyOf):
        index: dict[str, dict[Any, list]] = {}
        others = []
        for item in node.items:
            key = _plain_equality(item, schema)
            if key is None:
                others.append(predicate(item, schema, now))
            else:
                index.setdefault(item.attribute, {}).setdefault(key, []).append(item)

        def any_of(row: dict[str, Any]) -> bool:
            for attribute, wanted in index.items():
                value = row.get(attribute)
                if value is None:
                    continue
                candidates = wanted.get(value.casefold() if isinstance(value, str) else value)
                if candidates and any(matches(item, row, schema, now) for item in candidates):
                    return True
            return any(other(row) for other in others)

        return any_of
    if isinstance(node, AllOf):
        parts = [predicate(item, schema, now) for item in node.items]
        return lambda row: all(part(row) for part in parts)
    if isinstance(node, Not):
        inner = predicate(node.item, schema, now)
        return lambda row: not inner(row)
    return lambda row: matches(node, row, schema, now)
