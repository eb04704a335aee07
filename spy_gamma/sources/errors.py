"""Exceptions raised by the data sources: one for fetching bytes, one for bytes that do not parse."""

from __future__ import annotations

from pathlib import Path


class SourceError(RuntimeError):
    """Raw data could not be fetched: wrong credentials, missing entitlement, throttling, network failure."""


class DataError(ValueError):
    """A file or response is malformed; the message names the file and, where known, the line and field."""

    def __init__(self, source: str | Path, problem: str, *, line: int | None = None,
                 field: str | None = None) -> None:
        self.source, self.problem, self.line, self.field = str(source), problem, line, field
        where = "".join([f", line {line}" if line is not None else "",
                         f", field {field!r}" if field is not None else ""])
        super().__init__(f"{self.source}{where}: {problem}")
