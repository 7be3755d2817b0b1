"""KSC search filters: user text placed in them stays text, and the simulator reads them as KSC would."""

from __future__ import annotations

import datetime as dt

import pytest

from ksc_client import filters
from ksc_client.filters import FilterValueError
from ksc_simulator import filters as reader
from ksc_simulator.filters import (
    AllOf,
    AnyOf,
    BitTest,
    Comparison,
    FilterSyntaxError,
    Literal,
    Not,
    Present,
)

NOW = dt.datetime(2026, 11, 27, 8, 30, 5, tzinfo=dt.UTC)
SCHEMA = {
    "NAME": reader.STRING,
    "COUNT": reader.NUMBER,
    "WHEN": reader.TIME,
    "DONE": reader.BOOL,
    "BODY": reader.FULLTEXT,
}


def holds(text: str, **row) -> bool:
    node = reader.parse(text)
    reader.check(node, SCHEMA)
    return reader.matches(node, row, SCHEMA, NOW)


# --- writing ---


def test_quote_doubles_inner_quotes():
    assert filters.quote('say "hi"') == '"say ""hi"""'
    assert filters.quote("") == '""'


@pytest.mark.parametrize("text", ["tab\there", "line\nbreak", "nul\x00", "del\x7f"])
def test_control_characters_are_refused(text):
    with pytest.raises(FilterValueError):
        filters.quote(text)
    with pytest.raises(FilterValueError):
        filters.starts_with("NAME", text)


def test_wildcards_are_bracketed_for_prefix_searches():
    assert filters.escape_wildcards("a*b?c[d]") == "a[*]b[?]c[[]d]"
    assert filters.starts_with("KLHST_WKS_DN", 'x"*') == '(KLHST_WKS_DN = "x""[*]*")'


def test_every_row_is_selected_with_a_pattern_never_with_an_empty_filter():
    # KSC's grammar has no empty filter; Kaspersky's samples select every host this way.
    assert filters.any_value("KLHST_WKS_DN") == '(KLHST_WKS_DN = "*")'
    assert filters.require("(KLINCDT_ID > 0)") == "(KLINCDT_ID > 0)"
    for empty in ("", "   "):
        with pytest.raises(FilterValueError, match="must not be empty"):
            filters.require(empty)


def test_an_exact_match_refuses_wildcards_instead_of_widening():
    assert filters.equals("KLHST_WKS_HOSTNAME", "5f0c-01") == '(KLHST_WKS_HOSTNAME = "5f0c-01")'
    for value in ("ab*", "a?", "[a]"):
        with pytest.raises(FilterValueError, match="exact match"):
            filters.equals("KLHST_WKS_HOSTNAME", value)


def test_numbers_booleans_and_times_are_written_unquoted():
    assert filters.equals("KLINCDT_ID", 42) == "(KLINCDT_ID = 42)"
    assert filters.equals("KLINCDT_IS_HANDLED", False) == "(KLINCDT_IS_HANDLED = 0)"
    tokyo = dt.timezone(dt.timedelta(hours=9))
    # Times go as UTC whatever zone they come in.
    assert filters.compare("KLINCDT_ADDED", ">", dt.datetime(2026, 11, 27, 17, 30, 5, tzinfo=tokyo)) == (
        '(KLINCDT_ADDED > T"2026-11-27 08:30:05")'
    )
    with pytest.raises(FilterValueError):
        filters.compare("KLINCDT_ADDED", ">=", 5)
    with pytest.raises(FilterValueError):
        filters.compare("KLINCDT_ID", "=", "5")


def test_attribute_names_are_checked():
    with pytest.raises(FilterValueError):
        filters.equals("NAME)(|(X", "a")


def test_combinators():
    assert filters.all_of("(A)") == "(A)"
    assert filters.all_of("(A)", "(B)") == "(&(A)(B))"
    assert filters.any_of("(A)", "(B)") == "(|(A)(B))"
    assert filters.negate("(A)") == "(!(A))"


NASTY = [
    '")(|(NAME=*',
    "*",
    "?",
    "[",
    "]",
    "[^a]",
    '"',
    '""',
    "a)(b",
    "(&)",
    "\\",
    "x*y?z[0-9]",
    "東京-PC",
    " leading and trailing ",
]


@pytest.mark.parametrize("text", NASTY)
def test_user_text_in_a_prefix_search_stays_one_literal_comparison(text):
    node = reader.parse(filters.any_of(filters.starts_with("NAME", text), filters.equals("COUNT", 1)))

    assert isinstance(node, AnyOf) and len(node.items) == 2
    comparison = node.items[0]
    assert comparison == Comparison("NAME", "=", Literal("string", filters.escape_wildcards(text) + "*"))
    assert holds(filters.starts_with("NAME", text), NAME=text)
    assert holds(filters.starts_with("NAME", text), NAME=text.upper() + " and more")
    assert not holds(filters.starts_with("NAME", text), NAME="z" + text)


@pytest.mark.parametrize("text", NASTY)
def test_user_text_in_a_substring_search_matches_only_itself_anywhere(text):
    clause = filters.contains("NAME", text)
    assert reader.parse(clause) == Comparison("NAME", "=", Literal("string", "*" + filters.escape_wildcards(text) + "*"))
    assert holds(clause, NAME=text)
    assert holds(clause, NAME="before " + text.upper() + " after")
    assert not holds(clause, NAME="z")


def test_a_star_in_a_substring_search_is_literal_and_a_pattern_star_is_any_run():
    # KSC's * is "any run of characters" (docs/ksc-wire.md, section 8); the simulator must read it so.
    assert holds('(NAME = "*x*b*")', NAME="axxb")
    assert holds('(NAME = "a*b")', NAME="axxb")
    assert not holds(filters.contains("NAME", "a*b"), NAME="axxb")
    assert holds(filters.contains("NAME", "a*b"), NAME="xa*bx")
    assert not holds(filters.contains("NAME", "a?b"), NAME="axb")
    assert not holds(filters.contains("NAME", "[ab]"), NAME="a")
    assert holds(filters.contains("NAME", "[ab]"), NAME="x[ab]")


@pytest.mark.parametrize("text", [t for t in NASTY if not filters.has_wildcards(t)])
def test_user_text_in_an_exact_match_matches_only_itself(text):
    assert holds(filters.equals("NAME", text), NAME=text)
    assert not holds(filters.equals("NAME", text), NAME=text + "x")


# --- reading ---


def test_it_parses_the_whole_language():
    text = '(&(NAME = "a""b*")(|(COUNT > 3)(COUNT <> -1))(!(DONE = 1))(COUNT & 6 = 2)(WHEN < CURTIME(-60))(NAME))'

    assert reader.parse(text) == AllOf(
        (
            Comparison("NAME", "=", Literal("string", 'a"b*')),
            AnyOf((Comparison("COUNT", ">", Literal("number", 3)), Comparison("COUNT", "<>", Literal("number", -1)))),
            Not(Comparison("DONE", "=", Literal("number", 1))),
            BitTest("COUNT", 6, 2),
            Comparison("WHEN", "<", Literal("curtime", -60)),
            Present("NAME"),
        )
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "(",
        "(NAME",
        '(NAME = "open',
        "(NAME = 1))",
        "(NAME >= 1)",
        "(NAME ~ 1)",
        "(&)",
        "(!)",
        "(COUNT & x = 1)",
        '(WHEN > T"yesterday")',
        "(= 1)",
        '(NAME = "a")(NAME = "b")',
    ],
)
def test_malformed_filters_are_refused(text):
    with pytest.raises(FilterSyntaxError):
        reader.parse(text)


@pytest.mark.parametrize(
    "text",
    ['(MISSING = "a")', '(COUNT = "3")', "(NAME = 3)", "(WHEN = 5)", '(BODY <> "x")', "(DONE > 0)", "(NAME & 1 = 1)"],
)
def test_filters_that_do_not_fit_the_attributes_are_refused(text):
    with pytest.raises(FilterSyntaxError):
        reader.check(reader.parse(text), SCHEMA)


def test_an_unclosed_character_class_is_refused():
    with pytest.raises(FilterSyntaxError, match="unclosed"):
        reader.check(reader.parse('(NAME = "ab[c")'), SCHEMA)


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("tky-ws-*", "TKY-WS-0101", True),  # case does not matter
        ("TKY-??-0101", "TKY-WS-0101", True),
        ("TKY-?-0101", "TKY-WS-0101", False),
        ("DC0[1-2]", "DC02", True),
        ("DC0[^1-2]", "DC02", False),
        ("DC0[^1-2]", "DC03", True),
        ("[*]*", "*star", True),
        ("[*]*", "star", False),
        ("[]]x", "]x", True),
        ("a.b", "axb", False),  # regex characters are plain
        ("50%", "50%", True),
    ],
)
def test_patterns(pattern, name, expected):
    assert holds(f"(NAME = {filters.quote(pattern)})", NAME=name) is expected


def test_comparisons_of_each_kind():
    assert holds('(NAME <> "dc*")', NAME="DC01")  # <> compares literally
    assert not holds('(NAME <> "dc01")', NAME="DC01")
    assert holds("(COUNT > 3)", COUNT=4) and not holds("(COUNT > 3)", COUNT=3)
    assert holds('(WHEN < T"2026-11-27 08:30:06")', WHEN=NOW)
    assert holds('(WHEN = T"2026-11-27 08:30:05")', WHEN=NOW)
    assert holds("(WHEN > CURTIME(-1))", WHEN=NOW) and not holds("(WHEN > CURTIME(+1))", WHEN=NOW)
    assert holds("(DONE = true)", DONE=True) and holds("(DONE = 0)", DONE=False) and holds("DONE=1", DONE=True)
    assert holds("(COUNT & 12 = 4)", COUNT=5) and not holds("(COUNT & 12 = 4)", COUNT=12)
    assert holds("(NAME)", NAME="x") and not holds("(NAME)", NAME="") and not holds("(NAME)")
    assert not holds('(NAME = "*")')  # an absent value matches nothing, not even *
    assert holds('(!(NAME = "x"))', NAME="y")


def test_full_text_matches_whole_words():
    body = '{"targetHost": "h-1", "task": "isolateHost", "params": {"action": 1}}'

    assert holds('(BODY = "isolateHost action")', BODY=body)
    assert holds('(BODY = "isolate*")', BODY=body)
    assert not holds('(BODY = "isolate")', BODY=body)
    assert not holds('(BODY = "action deleteFile")', BODY=body)


ROWS = [
    {"NAME": "DC01", "COUNT": 1, "DONE": True},
    {"NAME": "dc02", "COUNT": 2, "DONE": False},
    {"NAME": "WS-[7]", "COUNT": 7},
    {"NAME": "Straße", "COUNT": 8},
    {"COUNT": 9},
    {"NAME": "x"},
]


@pytest.mark.parametrize(
    "text",
    [
        '(|(NAME = "dc01")(NAME = "DC02")(COUNT = 9))',
        '(|(NAME = "ws-[[]7]")(NAME = "STRASSE")(NAME = "straße")(COUNT = 8))',
        '(|(NAME = "d*")(COUNT > 7)(!(NAME = "x")))',
        '(&(|(NAME = "dc01")(NAME = "dc02"))(|(DONE = true)(COUNT = 2)))',
        '(|(NAME = "nobody")(COUNT = 100))',
        '(!(|(NAME = "dc01")(COUNT = 7)))',
        '(NAME = "dc01")',
    ],
)
def test_the_prepared_predicate_answers_as_matches_does(text):
    # A pasted list's (|...) of hundreds of equalities is looked up, not compared clause by clause (issue 27,
    # point 11); the answer must stay the same row for row.
    node = reader.parse(text)
    reader.check(node, SCHEMA)
    wanted = reader.predicate(node, SCHEMA, NOW)
    assert [wanted(row) for row in ROWS] == [reader.matches(node, row, SCHEMA, NOW) for row in ROWS]
    assert any(reader.matches(node, row, SCHEMA, NOW) for row in ROWS) or "nobody" in text
