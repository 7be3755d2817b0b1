"""KSC's LDAP-like search filters as the portal writes them (the simulator's reader is ksc_simulator/filters.py).

Syntax (docs/ksc-wire.md, section 8): ``(attr op value)``,
``(&(...)(...))``, ``(|(...)(...))``, ``(!(...))``; operators ``=``, ``<>``,
``>``, ``<``; bit tests ``(attr & mask = bits)``; ``(attr)`` tests not-null.
Strings are double-quoted with an inner ``"`` doubled. With ``=`` a string is
a pattern: ``*`` any run, ``?`` one character, ``[a-f]``/``[^a-f]`` a class.
Times are ``T"YYYY-MM-DD hh:mm:ss"`` (UTC) or ``CURTIME(<+-seconds>)``.

User input reaches a filter only through the builders below, which quote it.
For prefix and substring searches a literal wildcard character is bracketed (``*`` ->
``[*]``, ``?`` -> ``[?]``, ``[`` -> ``[[]``), the way a LIKE pattern escapes
them; KSC documents no other escape. For exact matches the builders refuse
wildcard characters instead, because a stray ``*`` there would silently widen
the match (host ids and FQDNs never contain them).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

WILDCARDS = frozenset("*?[")
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class FilterValueError(ValueError):
    """A value cannot be placed in a filter safely (control characters, wildcards in an exact match)."""


# --- Writing filters -------------------------------------------------------------------------


def _attribute(name: str) -> str:
    if not _ATTRIBUTE.fullmatch(name):
        raise FilterValueError(f"not an attribute name: {name!r}")
    return name


def _checked_text(value: str) -> str:
    if not isinstance(value, str):
        raise FilterValueError("filter values must be strings")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise FilterValueError("a filter value must not contain control characters")
    return value


def quote(value: str) -> str:
    """A string literal: double quotes around it, inner double quotes doubled."""
    return '"' + _checked_text(value).replace('"', '""') + '"'


def escape_wildcards(value: str) -> str:
    """The text with every wildcard character made literal by bracketing it."""
    return "".join(f"[{ch}]" if ch in WILDCARDS else ch for ch in _checked_text(value))


def has_wildcards(value: str) -> bool:
    return any(ch in WILDCARDS for ch in value)


def equals(attribute: str, value: str | int | bool) -> str:
    """``(attr = value)``, an exact match. Strings with wildcard characters are refused."""
    if isinstance(value, bool):
        return f"({_attribute(attribute)} = {int(value)})"
    if isinstance(value, int):
        return f"({_attribute(attribute)} = {value})"
    if has_wildcards(_checked_text(value)):
        raise FilterValueError(f"{attribute}: an exact match must not contain * ? or [")
    return f"({_attribute(attribute)} = {quote(value)})"


def starts_with(attribute: str, text: str) -> str:
    """``(attr = "text*")`` with the user's text taken literally."""
    return f"({_attribute(attribute)} = {quote(escape_wildcards(text) + '*')})"


def contains(attribute: str, text: str) -> str:
    """``(attr = "*text*")``: the user's text anywhere in the value, taken literally."""
    return f"({_attribute(attribute)} = {quote('*' + escape_wildcards(text) + '*')})"


def same_text(attribute: str, text: str) -> str:
    """``(attr = "text")`` for a whole value typed by a person (a display name): wildcards taken literally."""
    return f"({_attribute(attribute)} = {quote(escape_wildcards(text))})"


def any_value(attribute: str) -> str:
    """``(attr = "*")``: every row with a value for the attribute.

    KSC's grammar has no empty filter (``filter = "(" filtercomp ")"``); to select every host,
    Kaspersky's samples write ``(KLHST_WKS_DN = "*")``, and so does the portal (docs/ksc-wire.md, section 8).
    """
    return f'({_attribute(attribute)} = "*")'


def require(text: str) -> str:
    """The filter itself, or FilterValueError if it is empty: KSC's grammar has none, a strict server refuses it."""
    if not isinstance(text, str) or not text.strip():
        raise FilterValueError("a KSC filter must not be empty; select everything with any_value(attribute)")
    return text


def compare(attribute: str, operator: str, value: int | dt.datetime) -> str:
    """``(attr > 5)`` or ``(attr < T"2026-11-27 08:30:05")``; datetimes go as UTC."""
    if operator not in ("=", "<>", ">", "<"):
        raise FilterValueError(f"unknown operator {operator!r}")
    if isinstance(value, dt.datetime):
        literal = time_literal(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        literal = str(value)
    else:
        raise FilterValueError("compare takes an integer or a datetime")
    return f"({_attribute(attribute)} {operator} {literal})"


def time_literal(value: dt.datetime) -> str:
    """``T"YYYY-MM-DD hh:mm:ss"`` in UTC; naive datetimes are taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return f'T"{value.strftime(_TIME_FORMAT)}"'


def all_of(*clauses: str) -> str:
    return clauses[0] if len(clauses) == 1 else "(&" + "".join(clauses) + ")"


def any_of(*clauses: str) -> str:
    return clauses[0] if len(clauses) == 1 else "(|" + "".join(clauses) + ")"


def negate(clause: str) -> str:
    return f"(!{clause})"
