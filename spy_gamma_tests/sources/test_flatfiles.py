"""Flat-file keys and the local-directory source (S3 is in test_s3.py)."""

from __future__ import annotations

from datetime import date

import pytest

from spy_gamma.sources.flatfiles import FlatFileSource, LocalFlatFiles, S3FlatFiles, _md5_etag, flatfile_key


def test_keys_follow_polygons_layout():
    # Layout written out by hand from ARCHITECTURE.md section 2 (= Polygon's flat-file keys).
    day = date(2025, 10, 3)
    assert flatfile_key("trades", day) == "us_options_opra/trades_v1/2025/10/2025-10-03.csv.gz"
    assert flatfile_key("quotes", day) == "us_options_opra/quotes_v1/2025/10/2025-10-03.csv.gz"
    assert flatfile_key("minute_aggs", day) == "us_stocks_sip/minute_aggs_v1/2025/10/2025-10-03.csv.gz"
    assert flatfile_key("open_interest", date(2026, 1, 2)) == "open_interest/2026/01/2026-01-02.csv.gz"
    with pytest.raises(ValueError, match="unknown flat-file kind 'trade'"):
        flatfile_key("trade", day)


def test_local_source_finds_published_files_only(tmp_path):
    day = date(2025, 10, 3)
    published = tmp_path / flatfile_key("trades", day)
    published.parent.mkdir(parents=True)
    published.write_bytes(b"\x1f\x8b")
    local = LocalFlatFiles(tmp_path)
    assert local.fetch("trades", day) == published
    assert local.available("trades", day)
    assert local.fetch("quotes", day) is None and not local.available("quotes", day)
    assert local.fetch("trades", date(2025, 10, 6)) is None


def test_s3_source_serves_a_cached_file_without_touching_s3(tmp_path):
    day = date(2025, 10, 3)
    cached = tmp_path / flatfile_key("minute_aggs", day)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"\x1f\x8b")
    offline: FlatFileSource = S3FlatFiles(client=None, cache_dir=tmp_path)  # any S3 call would fail
    assert offline.fetch("minute_aggs", day) == cached
    assert offline.available("minute_aggs", day)


@pytest.mark.parametrize(("head", "is_md5"), [
    ({"ETag": '"9e107d9d372bb6826bd81d3542a419d6"'}, True),                   # single-part upload
    ({"ETag": '"9e107d9d372bb6826bd81d3542a419d6"', "ServerSideEncryption": "AES256"}, True),  # SSE-S3 keeps MD5
    ({"ETag": '"9e107d9d372bb6826bd81d3542a419d6-12"'}, False),               # multipart: MD5 of part MD5s
    ({"ETag": '"9e107d9d372bb6826bd81d3542a419d6"', "ServerSideEncryption": "aws:kms"}, False),
    ({"ETag": '"9e107d9d372bb6826bd81d3542a419d6"', "SSECustomerAlgorithm": "AES256"}, False),
    ({"ETag": '"W/abc"'}, False), ({}, False),
])
def test_only_a_plain_single_part_etag_is_taken_for_an_md5(head, is_md5):
    # The cases follow AWS's S3 documentation of the ETag (Object.ETag, "Checking object integrity").
    assert _md5_etag(head) is is_md5
