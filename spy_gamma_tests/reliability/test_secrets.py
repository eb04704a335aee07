"""Planted credentials never reach logs, Dagster's event storage, reports, errors or the lake.

A full ``spy-gamma run --source s3`` reads the flat files from a local S3 server (moto) with planted S3 keys and
fetches one day's quotes over REST from the local Polygon stand-in with a planted API key (one day's optional
open-interest file is missing too); then a run with credentials S3 refuses fails. Everything written (data dir: lake, catalog, S3 and REST caches, Dagster home;
the output folder) and everything printed or logged is scanned for the planted values.
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

import polars as pl
import pytest
import requests
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer

from spy_gamma.cli import main
from spy_gamma.defs.resources import FlatFilesResource
from spy_gamma.sources import polygon_rest
from spy_gamma.sources.flatfiles import flatfile_key
from spy_gamma_tests.reliability.conftest import WINDOW, Workspace, quiet_environment
from spy_gamma_tests.sources.polygon_server import PolygonServer

API_KEY = "pk_PLANTED_api_key_7f3e9a"
S3_ACCESS_KEY = "AKIAPLANTEDACCESS777"
S3_SECRET = "PLANTED/s3+secret=Zq81wx"
REST_DAY = WINDOW[-1]  # its quote file is not in the bucket: REST v3 supplies that day's quotes
NOT_IN_BUCKET = {flatfile_key("quotes", REST_DAY),
                 flatfile_key("open_interest", WINDOW[1])}  # optional: the run goes on without it


@pytest.fixture(scope="module")
def s3_endpoint(market) -> str:
    """A local S3 holding the market's flat files, minus one day's quotes and another's open interest."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = s3_client(endpoint, "AKIAUPLOADER", "uploader")
    client.create_bucket(Bucket="flatfiles")
    for path in sorted(market.rglob("*.csv.gz")):
        key = path.relative_to(market).as_posix()
        if key not in NOT_IN_BUCKET:
            client.put_object(Bucket="flatfiles", Key=key, Body=path.read_bytes())
    yield endpoint
    server.stop()


def s3_client(endpoint: str, access_key: str, secret: str):
    return S3Resource(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access_key,
                      aws_secret_access_key=secret).get_client()


def rest_quotes(market: Path) -> list[dict]:
    """The REST day's quotes as Polygon's v3 endpoint returns them."""
    quotes = pl.read_csv(market / flatfile_key("quotes", REST_DAY))
    return quotes.with_columns(pl.col("sip_timestamp").alias("participant_timestamp")).to_dicts()


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
        return [raw, frame.write_csv().encode(), str(pl.read_parquet_schema(path)).encode()]
    return [raw]


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under ``root`` in which ``needle`` appears in any of its encodings."""
    return [path for path in sorted(root.rglob("*")) if path.is_file()
            and any(form in text for text in file_texts(path) for form in encodings(needle))]


@pytest.mark.slow  # local S3 and HTTP servers, two pipeline runs
def test_planted_credentials_appear_in_no_output_log_event_or_error(
        market, s3_endpoint, tmp_path, monkeypatch, capfd, caplog):
    workspace = Workspace(tmp_path / "run")
    quiet_environment(monkeypatch, workspace)
    for name, value in (("POLYGON_API_KEY", API_KEY), ("POLYGON_S3_ACCESS_KEY", S3_ACCESS_KEY),
                        ("POLYGON_S3_SECRET_KEY", S3_SECRET)):
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(FlatFilesResource, "_s3_client", lambda resource: s3_client(  # production reads env too
        s3_endpoint, os.environ["POLYGON_S3_ACCESS_KEY"], os.environ["POLYGON_S3_SECRET_KEY"]))
    caplog.set_level(logging.DEBUG)
    with PolygonServer(API_KEY, rest_quotes(market)) as rest:
        monkeypatch.setattr(polygon_rest, "PolygonRestClient",
                            functools.partial(polygon_rest.PolygonRestClient, base_url=rest.base_url, max_rps=1000))
        assert main(workspace.run_args(source="s3")) == 0
        assert rest.request_count > 0  # the planted API key was really used...
    assert pl.read_parquet(workspace.lake / "open_interest" / f"{WINDOW[1]}.parquet").is_empty()
    cache = workspace.data / "s3_cache"
    assert files_containing(cache, "O:SPY250922")  # ...and so were the S3 keys (controls: the scan can find)

    refused = Workspace(tmp_path / "refused")
    monkeypatch.setenv("SPY_GAMMA_DATA_DIR", str(refused.data))
    requests.post(f"{s3_endpoint}/moto-api/reset-auth", data=b"0", timeout=5)  # S3 now checks credentials
    try:
        assert main(refused.run_args(source="s3")) == 1
    finally:
        requests.post(f"{s3_endpoint}/moto-api/reset-auth", data=b"inf", timeout=5)

    printed = capfd.readouterr()
    assert "access denied to s3://flatfiles/" in printed.err
    assert files_containing(workspace.data / "dagster_home", "dropped_corrections")  # event metadata is scanned
    assert files_containing(workspace.data / "lake", "O:SPY250922")  # Parquet pages are decoded
    logged = "\n".join(record.getMessage() for record in caplog.records if record.levelno >= logging.INFO)
    everything_logged = caplog.text
    for secret in (API_KEY, S3_SECRET, S3_ACCESS_KEY):
        assert files_containing(tmp_path, secret) == [], secret
        assert secret not in printed.out and secret not in printed.err
        assert secret not in logged
    for secret in (API_KEY, S3_SECRET):  # botocore's DEBUG lines carry the access key id, never the secret
        assert secret not in everything_logged


def test_the_scan_finds_a_planted_value_wherever_it_hides(tmp_path):
    pl.DataFrame({"note": ["x" * 5000 + API_KEY]}).write_parquet(tmp_path / "t.parquet", compression="zstd")
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(("a," * 5000 + S3_SECRET).encode()))
    (tmp_path / "u.log").write_text(f"GET /v3?apiKey={quote(S3_SECRET, safe='')}")
    with sqlite3.connect(tmp_path / "events.db") as events:
        events.execute("create table event_logs (event text)")
        events.execute("insert into event_logs values (?)", (f'{{"metadata": "{S3_ACCESS_KEY}"}}',))
    assert [p.name for p in files_containing(tmp_path, API_KEY)] == ["t.parquet"]
    assert [p.name for p in files_containing(tmp_path, S3_SECRET)] == ["c.csv.gz", "u.log"]
    assert [p.name for p in files_containing(tmp_path, S3_ACCESS_KEY)] == ["events.db"]
