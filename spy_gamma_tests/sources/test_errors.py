"""Error messages quote file content only as short, escaped excerpts: nothing a file holds can drive a terminal."""

from __future__ import annotations

from spy_gamma.sources.errors import DataError, excerpt


def test_excerpt_quotes_escapes_and_cuts():
    assert excerpt("abc") == "'abc'"
    assert excerpt("\x1b[31mred") == "'\\x1b[31mred'"  # ANSI colour escape shown, not sent
    assert excerpt("\ufeffticker") == "'\\ufeffticker'"  # byte-order mark made visible
    assert excerpt("0" * 1000) == "'" + "0" * 80 + "'..."


def test_data_error_format_and_escaping():
    error = DataError("day.csv.gz", "bad \x1b[2J value", line=3, field="price")
    assert str(error) == "day.csv.gz, line 3, field 'price': bad \\x1b[2J value"
    assert (error.source, error.line, error.field) == ("day.csv.gz", 3, "price")
    assert str(DataError("d\x07ir/day.csv.gz", "broken")) == "d\\x07ir/day.csv.gz: broken"


def test_a_huge_problem_is_cut():
    message = str(DataError("day.csv.gz", "x" * 10_000_000))
    assert len(message) < 600 and message.endswith("(message cut at 500 characters)")
