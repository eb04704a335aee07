"""Polygon flat files (csv.gz per kind and day) from a local directory or an S3 bucket with a local cache.

Both sources answer the same two questions: where is that day's file on local disk, and is it published yet.
Key layout: ARCHITECTURE.md section 2 (the same keys Polygon uses on ``files.massive.com``).
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol, TypeVar

from botocore.exceptions import ClientError, HTTPClientError, ResponseStreamingError
from botocore.exceptions import ConnectionError as BotoConnectionError

from spy_gamma.sources.errors import SourceError, excerpt

log = logging.getLogger(__name__)

KINDS = {
    "trades": "us_options_opra/trades_v1",
    "quotes": "us_options_opra/quotes_v1",
    "minute_aggs": "us_stocks_sip/minute_aggs_v1",
    "open_interest": "open_interest",
}

_MISSING = {"404", "NoSuchKey", "NotFound"}
_DENIED = {"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_THROTTLED = {"503", "SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError", "500", "Throttling"}
_CHUNK_BYTES = 8 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_PLAIN_MD5 = re.compile(r"[0-9a-f]{32}")  # multipart ETags end in "-<parts>" and are no MD5 of the bytes
_KMS = {"aws:kms", "aws:kms:dsse"}  # with these (and SSE-C) S3's ETag is not the MD5 of the bytes either
T = TypeVar("T")


def flatfile_key(kind: str, day: date) -> str:
    """``us_options_opra/trades_v1/2025/10/2025-10-03.csv.gz`` for ``("trades", 2025-10-03)``."""
    if kind not in KINDS:
        raise ValueError(f"unknown flat-file kind {kind!r}; expected one of {sorted(KINDS)}")
    return f"{KINDS[kind]}/{day:%Y}/{day:%m}/{day:%Y-%m-%d}.csv.gz"


class FlatFileSource(Protocol):
    """Where a day's flat file lives on local disk, whatever the bytes' origin."""

    def fetch(self, kind: str, day: date) -> Path | None:
        """Local path of the day's csv.gz, or None when that file is not published (yet)."""
        ...

    def available(self, kind: str, day: date) -> bool:
        """True when the day's file is published."""
        ...

    def location(self, kind: str, day: date) -> str:
        """Where the day's file is looked for (a path or an ``s3://`` URL), for error messages."""
        ...


@dataclass(frozen=True)
class LocalFlatFiles:
    """Flat files already on disk under ``root`` in Polygon's key layout (e.g. the simulator's output)."""

    root: Path

    def fetch(self, kind: str, day: date) -> Path | None:
        path = Path(self.root) / flatfile_key(kind, day)
        return path if path.is_file() else None

    def available(self, kind: str, day: date) -> bool:
        return self.fetch(kind, day) is not None

    def location(self, kind: str, day: date) -> str:
        return str(Path(self.root) / flatfile_key(kind, day))


@dataclass
class S3FlatFiles:
    """Flat files from an S3 bucket, downloaded once into ``cache_dir`` under the same keys.

    ``client`` is any boto3-compatible S3 client, e.g. ``dagster_aws.s3.S3Resource(...).get_client()``.
    A download goes to ``<key>.<etag>.part``, resumes with a Range request after an interruption, and enters
    the cache only once it has the object's ContentLength, starts with the gzip magic bytes (a proxy's or
    captive portal's HTML page served with status 200 does not) and, when the ETag is a plain MD5 (a
    single-part upload without KMS or customer keys; ``verify_md5=False`` for a store whose ETags are
    something else), has that MD5. A cached file is then complete and re-fetching it sends no request at all;
    one found not gzip anyway (an older cache, a damaged disk) is moved aside to ``<key>.quarantined-<n>``,
    never deleted, and fetched once more.
    """

    client: Any
    cache_dir: Path
    bucket: str = "flatfiles"
    attempts: int = 5
    backoff_s: float = 1.0
    verify_md5: bool = True

    def fetch(self, kind: str, day: date) -> Path | None:
        key = flatfile_key(kind, day)
        target = Path(self.cache_dir) / key
        moved = None
        if target.is_file():
            if _starts_gzip(target):
                return target
            moved = _quarantine(target)
            log.warning("%s: the cached copy of s3://%s/%s is not gzip; moved aside to %s, fetching it again",
                        target, self.bucket, key, moved)
        head = self._head(key)
        if head is None:
            return None
        size, etag = int(head["ContentLength"]), str(head.get("ETag", "")).strip('"')
        part = _part_path(target, etag)
        _discard_stale_parts(target, keep=part)
        self._with_retries(key, lambda: self._download(key, part, size, etag))
        problem = _download_problem(part, size, etag if self.verify_md5 and _md5_etag(head) else None)
        if problem:
            part.unlink()
            kept = f"; the earlier bad cached copy is at {moved}" if moved else ""
            raise SourceError(f"s3://{self.bucket}/{key}: {problem}; the download was discarded and nothing "
                              f"was cached, fetch again{kept}")
        part.replace(target)
        log.info("downloaded s3://%s/%s (%d bytes)", self.bucket, key, size)
        return target

    def available(self, kind: str, day: date) -> bool:
        key = flatfile_key(kind, day)
        return (Path(self.cache_dir) / key).is_file() or self._head(key) is not None

    def location(self, kind: str, day: date) -> str:
        return f"s3://{self.bucket}/{flatfile_key(kind, day)}"

    def _head(self, key: str) -> dict[str, Any] | None:
        """The object's metadata, or None when it does not exist."""
        try:
            return self._with_retries(key, lambda: self.client.head_object(Bucket=self.bucket, Key=key))
        except _Missing:
            return None

    def _download(self, key: str, part: Path, size: int, etag: str) -> None:
        """Append the bytes not yet in ``part``, asking only for the missing range."""
        part.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        if have == size:
            return
        request = {"Bucket": self.bucket, "Key": key, "Range": f"bytes={have}-"}
        if etag:
            request["IfMatch"] = etag
        body = self.client.get_object(**request)["Body"]
        with part.open("ab") as sink:
            for chunk in body.iter_chunks(_CHUNK_BYTES):
                sink.write(chunk)

    def _with_retries(self, key: str, call: Callable[[], T]) -> T:
        """Run an S3 call, retrying throttling and dropped connections with exponential backoff + jitter."""
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", ""))
                status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
                if code in _MISSING or status == "404":
                    raise _Missing(key) from None
                if code in _DENIED or status == "403":
                    raise SourceError(
                        f"access denied to s3://{self.bucket}/{key} (S3 {code or status}): the S3 credentials "
                        "are wrong or lack the flat-files entitlement for this data") from None
                if code == "PreconditionFailed":
                    raise SourceError(f"s3://{self.bucket}/{key} changed during the download; "
                                      "fetch again") from None
                if code not in _THROTTLED and status not in _THROTTLED:
                    raise SourceError(f"s3://{self.bucket}/{key}: S3 error {code or status}") from None
                reason = f"throttled ({code or status})"
            except (BotoConnectionError, HTTPClientError, ResponseStreamingError, ConnectionError) as error:
                reason = f"connection failed ({type(error).__name__})"
            if attempt < self.attempts:
                pause = self.backoff_s * 2 ** (attempt - 1) * (1 + random.random())
                log.warning("s3://%s/%s %s, retry %d/%d in %.1fs", self.bucket, key, reason, attempt,
                            self.attempts - 1, pause)
                time.sleep(pause)
        raise SourceError(f"s3://{self.bucket}/{key}: {reason} after {self.attempts} attempts; try later")


class _Missing(Exception):
    """The object is not in the bucket: not published yet."""


def _md5_etag(head: dict[str, Any]) -> bool:
    """True when S3's ETag is the MD5 of the object's bytes: single-part, not KMS- or customer-key-encrypted."""
    etag = str(head.get("ETag", "")).strip('"')
    return bool(_PLAIN_MD5.fullmatch(etag)) and head.get("ServerSideEncryption") not in _KMS \
        and not head.get("SSECustomerAlgorithm")


def _download_problem(part: Path, size: int, md5: str | None) -> str | None:
    """Why a finished download must not enter the cache, or None: wrong size, not gzip, MD5 not ``md5``."""
    got = part.stat().st_size
    if got != size:
        return f"downloaded {got} bytes but S3 reported ContentLength {size}"
    with part.open("rb") as handle:
        start = handle.read(80)
    if not start.startswith(_GZIP_MAGIC):
        return (f"the download is not gzip (it starts {excerpt(start.decode('utf-8', 'replace'))}): a proxy, "
                "captive portal or error page answered instead of S3")
    if md5 is not None and (digest := _md5_of(part)) != md5:
        return f"the download's MD5 {digest} differs from the object's ETag {md5}: damaged in transit"
    return None


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _starts_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(_GZIP_MAGIC)) == _GZIP_MAGIC


def _quarantine(target: Path) -> Path:
    """Move a bad cached file aside (kept for inspection) to the first free ``<name>.quarantined-<n>``."""
    number = 1
    while (moved := target.with_name(f"{target.name}.quarantined-{number}")).exists():
        number += 1
    target.replace(moved)
    return moved


def _part_path(target: Path, etag: str) -> Path:
    """Partial-download name tied to the object's version, so a resume never splices two versions."""
    version = hashlib.sha256(etag.encode()).hexdigest()[:12]
    return target.with_name(f"{target.name}.{version}.part")


def _discard_stale_parts(target: Path, keep: Path) -> None:
    """Delete partial downloads of older versions of the same object."""
    for stale in target.parent.glob(f"{target.name}.*.part"):
        if stale != keep:
            stale.unlink(missing_ok=True)

