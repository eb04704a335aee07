"""Exceptions raised by the data sources: one for fetching bytes, one for bytes that do not parse.

A message may quote file content, and a file can hold anything: content is quoted through ``excerpt`` (short,
quoted, every non-ASCII or control character escaped), and a ``DataError`` escapes and caps its whole problem
text again, so no terminal escape sequence and no megabyte of junk can reach a console or a log.
"""

from __future__ import annotations

from pathlib import Path

EXCERPT_CHARS = 80  # enough to recognise a value or the start of a line, short enough for one console line
PROBLEM_CHARS = 500  # a problem sentence plus a few excerpts; anything longer is cut


class SourceError(RuntimeError):
    """Raw data could not be fetched: wrong credentials, missing entitlement, throttling, network failure."""


class DataError(ValueError):
    """A file or response is malformed; the message names the file and, where known, the line and field."""

    def __init__(self, source: str | Path, problem: str, *, line: int | None = None,
                 field: str | None = None) -> None:
        self.source, self.problem, self.line, self.field = str(source), _printable(problem), line, field
        where = "".join([f", line {line}" if line is not None else "",
                         f", field {field!r}" if field is not None else ""])
        super().__init__(f"{_printable(self.source)}{where}: {self.problem}")


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` quoted like ``repr`` with every non-ASCII and control character escaped, cut to ``limit``."""
    return ascii(text) if len(text) <= limit else f"{text[:limit]!a}..."


def _printable(text: str) -> str:
    """``text`` with non-printable characters (controls, BOM, ANSI escapes) escaped and at most PROBLEM_CHARS."""
    cut = text[:PROBLEM_CHARS]
    safe = cut if cut.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in cut)
    return safe if len(text) <= PROBLEM_CHARS else f"{safe}... (message cut at {PROBLEM_CHARS} characters)"
