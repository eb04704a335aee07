"""Planted credentials never reach a file, a log or the console.

Every reliability run carries ``POLYGON_API_KEY=sk-test-SECRET-…`` and planted S3 keys in its environment
(``conftest.PLANTED``). The clean reference run and a failing run (one trading day's trades file missing) are
scanned: every file of the workspace (flat files, lake Parquet decoded, DuckDB catalog, Dagster home with its
SQLite run and event storage, the log file of the failure, the output folder) and everything printed. The scan
proves it can find a planted value in each of those forms (``test_the_scan_finds_a_planted_value_…``); REST and S3
use of the keys is covered by ``sources/test_polygon_rest.py`` and ``sources/test_s3.py``.
"""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path
from urllib.parse import quote

import polars as pl
import pytest

from spy_gamma_tests.reliability.conftest import PLANTED, WINDOW, assert_one_line_error, spy_gamma


def encodings(secret: str) -> set[bytes]:
    """The forms a secret could take on the way out: as is, and URL-encoded."""
    return {secret.encode(), quote(secret, safe="").encode()}


def file_texts(path: Path) -> list[bytes]:
    """A file's bytes plus what compression hides: gzip decompressed, Parquet decoded (zstd pages)."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        return [raw, gzip.decompress(raw)]
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        return [raw, frame.write_ndjson().encode(), str(pl.read_parquet_schema(path)).encode()]
    return [raw]


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under ``root`` in which ``needle`` appears in any of its encodings."""
    return [path for path in sorted(root.rglob("*")) if path.is_file()
            and any(form in text for text in file_texts(path) for form in encodings(needle))]


@pytest.mark.slow  # a failing pipeline run besides the shared reference
def test_planted_credentials_appear_in_no_file_log_or_console_output(reference, tmp_path):
    failing = reference.workspace.clone(tmp_path)
    missing = failing.flatfile("trades", WINDOW[1])
    missing.unlink()
    failed = spy_gamma(failing)
    log = assert_one_line_error(failed, f"{missing}: no trades flat file for trading day {WINDOW[1]}")

    clean = reference.workspace
    assert files_containing(clean.data / "dagster_home", "dropped_corrections")  # controls: event metadata,
    assert files_containing(clean.lake, "O:SPY250922")  # Parquet pages and the outputs are really scanned
    assert files_containing(clean.output, "total_gex") and files_containing(log.parent, "Traceback")
    for secret in PLANTED.values():
        assert files_containing(clean.root, secret) == [], secret
        assert files_containing(failing.root, secret) == [], secret
        for printed in (reference.finished.stdout, reference.finished.stderr, failed.stdout, failed.stderr):
            assert secret not in printed and quote(secret, safe="") not in printed


def test_the_scan_finds_a_planted_value_wherever_it_hides(tmp_path):
    secret, s3_secret, access = PLANTED["POLYGON_API_KEY"], PLANTED["POLYGON_S3_SECRET_KEY"], \
        PLANTED["POLYGON_S3_ACCESS_KEY"]
    pl.DataFrame({"note": ["x" * 5000 + secret]}).write_parquet(tmp_path / "t.parquet", compression="zstd")
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(("a," * 5000 + s3_secret).encode()))
    (tmp_path / "u.log").write_text(f"GET /v3?apiKey={quote(s3_secret, safe='')}")
    with sqlite3.connect(tmp_path / "events.db") as events:
        events.execute("create table event_logs (event text)")
        events.execute("insert into event_logs values (?)", (f'{{"metadata": "{access}"}}',))
    assert [p.name for p in files_containing(tmp_path, secret)] == ["t.parquet"]
    assert [p.name for p in files_containing(tmp_path, s3_secret)] == ["c.csv.gz", "u.log"]
    assert [p.name for p in files_containing(tmp_path, access)] == ["events.db"]


def test_an_error_carrying_a_credential_is_masked_on_the_console_and_in_the_log(tmp_path, monkeypatch, capsys):
    """Whatever a failure's message holds, the credentials set in the environment print as ``***``."""
    from spy_gamma import cli

    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    long_path = "/data/" + "nested/" * 20 + "2025-09-17.csv.gz"
    secret = PLANTED["POLYGON_API_KEY"]

    def fail(args) -> int:
        raise RuntimeError(f"GET https://api.massive.com/v3/quotes?apiKey={secret} for {long_path} with "
                           f"{PLANTED['POLYGON_S3_SECRET_KEY']} [/x] [Errno 28]")

    monkeypatch.setattr(cli, "_query", fail)
    assert cli.main(["--data-dir", str(tmp_path), "query", "select 1"]) == 1
    printed = capsys.readouterr().err.splitlines()
    # Square brackets are text, not Rich markup (an unmatched "[/x]" once crashed the error handler itself),
    # and the path stays on one line however long.
    assert printed[0] == f"error: GET https://api.massive.com/v3/quotes?apiKey=*** for {long_path} with *** " \
                         "[/x] [Errno 28]"
    (log,) = (tmp_path / "logs").iterdir()
    assert printed[1] == f"details: {log}"
    assert "RuntimeError" in log.read_text()
    assert all(files_containing(tmp_path, value) == [] for value in PLANTED.values())
