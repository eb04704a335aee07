"""S3FlatFiles against a real moto S3 server on 127.0.0.1, through a dagster-aws S3Resource client.

Faults the server cannot produce (throttling, a connection reset mid-body, a lying ContentLength) are injected
with botocore's own event hooks on the client, so the requests that do go out still cross real HTTP.
"""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import requests
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer

from spy_gamma.sources.errors import SourceError
from spy_gamma.sources.flatfiles import S3FlatFiles, flatfile_key

pytestmark = pytest.mark.slow  # local S3 server

DAY = date(2025, 10, 3)
ACCESS_KEY, SECRET_KEY = "AKIAPLANTEDTEST0001", "planted/SECRET+s3-key-do-not-print"


@pytest.fixture(scope="module")
def endpoint() -> str:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def trades_bytes() -> bytes:
    """~300 KB of incompressible-ish csv.gz, large enough to break mid-body."""
    rng = np.random.default_rng(3)
    lines = [f"O:SPY251010C00{int(k):03d}000,209,0,312,{p:.2f},{1759498200000000000 + i},1"
             for i, (k, p) in enumerate(zip(rng.integers(600, 700, 40_000), rng.uniform(0.01, 20, 40_000)))]
    return gzip.compress(("ticker,conditions,correction,exchange,price,sip_timestamp,size\n"
                          + "\n".join(lines)).encode())


@pytest.fixture(scope="module")
def bucket(endpoint, trades_bytes) -> str:
    client = s3_client(endpoint)
    client.create_bucket(Bucket="flatfiles")
    client.put_object(Bucket="flatfiles", Key=flatfile_key("trades", DAY), Body=trades_bytes)
    return "flatfiles"


def s3_client(endpoint: str):
    resource = S3Resource(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, max_attempts=0)  # retries: ours only
    return resource.get_client()


class Wire:
    """Records every request the client sends: (operation, Range header)."""

    def __init__(self, client) -> None:
        self.sent: list[tuple[str, str | None]] = []
        client.meta.events.register("before-send.s3.*", self._record)

    def _record(self, request, event_name: str, **_) -> None:
        byte_range = request.headers.get("Range")
        self.sent.append((event_name.rsplit(".", 1)[-1], byte_range and bytes(byte_range).decode()))

    def count(self, operation: str) -> int:
        return sum(op == operation for op, _ in self.sent)


def source(client, cache: Path, **kwargs) -> S3FlatFiles:
    return S3FlatFiles(client=client, cache_dir=cache, backoff_s=0.001, **kwargs)


def test_download_then_cache_hit_sends_no_request(endpoint, bucket, trades_bytes, tmp_path):
    client = s3_client(endpoint)
    wire = Wire(client)
    path = source(client, tmp_path).fetch("trades", DAY)
    assert path == tmp_path / flatfile_key("trades", DAY)
    assert path.read_bytes() == trades_bytes
    assert (wire.count("HeadObject"), wire.count("GetObject")) == (1, 1)
    assert source(client, tmp_path).fetch("trades", DAY) == path
    assert len(wire.sent) == 2  # the re-fetch sent nothing at all
    assert not list(tmp_path.rglob("*.part"))


class BreaksAfter:
    """A GetObject body that delivers ``limit`` bytes, then the connection resets."""

    def __init__(self, body, limit: int) -> None:
        self.body, self.limit = body, limit

    def iter_chunks(self, chunk_size: int):
        yield self.body.read(self.limit)
        raise ConnectionResetError(104, "Connection reset by peer")


def break_first_get(client, limit: int) -> None:
    state = {"broken": False}

    def cut(parsed, **_):
        if not state["broken"]:
            state["broken"] = True
            parsed["Body"] = BreaksAfter(parsed["Body"], limit)

    client.meta.events.register("after-call.s3.GetObject", cut)


def test_reset_mid_body_resumes_with_a_range_request(endpoint, bucket, trades_bytes, tmp_path):
    client = s3_client(endpoint)
    wire = Wire(client)
    break_first_get(client, 100_000)
    path = source(client, tmp_path).fetch("trades", DAY)
    assert path.read_bytes() == trades_bytes
    assert [rng for op, rng in wire.sent if op == "GetObject"] == ["bytes=0-", "bytes=100000-"]


def test_partial_file_left_by_a_failed_run_is_resumed(endpoint, bucket, trades_bytes, tmp_path):
    client = s3_client(endpoint)
    break_first_get(client, 120_000)
    with pytest.raises(SourceError, match="connection failed.*after 1 attempts"):
        source(client, tmp_path, attempts=1).fetch("trades", DAY)
    (part,) = tmp_path.rglob("*.part")
    assert part.stat().st_size == 120_000
    assert not (tmp_path / flatfile_key("trades", DAY)).exists()

    fresh = s3_client(endpoint)
    wire = Wire(fresh)
    path = source(fresh, tmp_path).fetch("trades", DAY)
    assert path.read_bytes() == trades_bytes
    assert [rng for op, rng in wire.sent if op == "GetObject"] == ["bytes=120000-"]
    assert not part.exists()


def test_size_mismatch_is_detected_and_nothing_is_cached(endpoint, bucket, tmp_path):
    client = s3_client(endpoint)

    def overstate(parsed, **_):
        parsed["ContentLength"] += 7

    client.meta.events.register("after-call.s3.HeadObject", overstate)
    with pytest.raises(SourceError, match=r"downloaded (\d+) bytes but S3 reported ContentLength"):
        source(client, tmp_path).fetch("trades", DAY)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_missing_key_means_not_published(endpoint, bucket, tmp_path):
    flatfiles = source(s3_client(endpoint), tmp_path)
    assert flatfiles.fetch("trades", date(2025, 10, 6)) is None
    assert not flatfiles.available("quotes", DAY)
    assert flatfiles.available("trades", DAY)


def throttle(client, times: int) -> None:
    """Answer the next ``times`` GetObject calls with S3's 503 SlowDown, as botocore would receive it."""
    state = {"left": times}

    class Raw:
        def stream(self, **_):
            yield b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"

    def slow_down(request, **_):
        if state["left"] > 0:
            state["left"] -= 1
            return AWSResponse(request.url, 503, {}, Raw())
        return None

    client.meta.events.register("before-send.s3.GetObject", slow_down)


def test_throttling_is_retried_then_reported(endpoint, bucket, trades_bytes, tmp_path):
    client = s3_client(endpoint)
    throttle(client, 2)
    assert source(client, tmp_path / "a").fetch("trades", DAY).read_bytes() == trades_bytes

    client = s3_client(endpoint)
    throttle(client, 10)
    with pytest.raises(SourceError, match=r"throttled \(SlowDown\) after 3 attempts"):
        source(client, tmp_path / "b", attempts=3).fetch("trades", DAY)


def test_connection_reset_before_response_is_retried(endpoint, bucket, trades_bytes, tmp_path):
    client = s3_client(endpoint)
    state = {"left": 1}

    def reset(request, **_):
        if state["left"]:
            state["left"] -= 1
            raise ConnectionClosedError(endpoint_url=request.url)

    client.meta.events.register("before-send.s3.HeadObject", reset)
    assert source(client, tmp_path).fetch("trades", DAY).read_bytes() == trades_bytes


def test_forbidden_is_a_clear_error_without_the_secret(endpoint, bucket, tmp_path):
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=5)  # moto now checks credentials
    try:
        with pytest.raises(SourceError) as raised:
            source(s3_client(endpoint), tmp_path).fetch("trades", DAY)
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=5)
    message = str(raised.value)
    assert flatfile_key("trades", DAY) in message
    assert "403" in message and "credentials are wrong or lack" in message
    assert SECRET_KEY not in message and SECRET_KEY not in repr(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


POISON_DAY = date(2025, 10, 7)  # its own key: the tests above rely on 2025-10-06 being unpublished
HTML = b"<!DOCTYPE html><html><body>Proxy login required</body></html>\n" * 20


@pytest.fixture
def poisoned_key(endpoint, bucket):
    """POISON_DAY's trades key, removed again afterwards."""
    key = flatfile_key("trades", POISON_DAY)
    yield key
    s3_client(endpoint).delete_object(Bucket=bucket, Key=key)


def test_an_html_page_served_with_200_never_enters_the_cache(endpoint, bucket, poisoned_key, trades_bytes, tmp_path):
    """The bytes served for the key are a proxy's HTML page (status 200, right length, right ETag): not cached, so
    once the real file is served the next fetch succeeds instead of failing identically forever."""
    client = s3_client(endpoint)
    client.put_object(Bucket=bucket, Key=poisoned_key, Body=HTML)
    with pytest.raises(SourceError, match=r"not gzip \(it starts '<!DOCTYPE html>.*nothing was cached"):
        source(client, tmp_path).fetch("trades", POISON_DAY)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    client.put_object(Bucket=bucket, Key=poisoned_key, Body=trades_bytes)
    assert source(client, tmp_path).fetch("trades", POISON_DAY).read_bytes() == trades_bytes


class FlipsOneByte:
    """A GetObject body with one byte changed after the gzip header: same length, still gzip magic."""

    def __init__(self, body) -> None:
        self.body = body

    def iter_chunks(self, chunk_size: int):
        data = bytearray(self.body.read())
        data[1000] ^= 0xFF
        yield bytes(data)


def test_bytes_damaged_in_transit_fail_the_etag_md5(endpoint, bucket, trades_bytes, tmp_path):
    client = s3_client(endpoint)
    client.meta.events.register("after-call.s3.GetObject",
                                lambda parsed, **_: parsed.update(Body=FlipsOneByte(parsed["Body"])))
    with pytest.raises(SourceError, match=r"MD5 [0-9a-f]{32} differs from the object's ETag [0-9a-f]{32}"):
        source(client, tmp_path / "checked").fetch("trades", DAY)
    assert not [p for p in (tmp_path / "checked").rglob("*") if p.is_file()]
    unchecked = source(client, tmp_path / "unchecked", verify_md5=False).fetch("trades", DAY)
    assert unchecked.stat().st_size == len(trades_bytes) and unchecked.read_bytes() != trades_bytes


def test_a_bad_cached_file_is_moved_aside_and_fetched_once_more(endpoint, bucket, trades_bytes, tmp_path, caplog):
    cached = tmp_path / flatfile_key("trades", DAY)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(HTML)  # left by an older version of the cache, or a damaged disk
    client = s3_client(endpoint)
    wire = Wire(client)
    with caplog.at_level("WARNING"):
        assert source(client, tmp_path).fetch("trades", DAY).read_bytes() == trades_bytes
    moved = cached.with_name(cached.name + ".quarantined-1")
    assert moved.read_bytes() == HTML  # kept for inspection, not deleted
    assert f"moved aside to {moved}" in caplog.text and "fetching it again" in caplog.text
    assert (wire.count("HeadObject"), wire.count("GetObject")) == (1, 1)


def test_a_failed_refetch_says_where_the_bad_copy_went(endpoint, bucket, poisoned_key, tmp_path):
    client = s3_client(endpoint)
    client.put_object(Bucket=bucket, Key=poisoned_key, Body=HTML)
    cached = tmp_path / poisoned_key
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")  # an empty file is not gzip either
    with pytest.raises(SourceError, match="the earlier bad cached copy is at .*quarantined-1"):
        source(client, tmp_path).fetch("trades", POISON_DAY)
    assert not cached.exists() and cached.with_name(cached.name + ".quarantined-1").exists()
