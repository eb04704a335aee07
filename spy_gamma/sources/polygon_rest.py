"""Polygon (now Massive) REST v3 quotes and historical open interest, with rate limit, retries and a disk cache.

The API key travels only in the ``Authorization: Bearer`` header: never in a URL, a log line, an exception or
a cache file. Every successful response is cached on disk (one file per request, keyed by a hash of the
request path and query), so re-running a day sends no request. Cache only finished sessions: a cached page
of today's quotes would be frozen.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import polars as pl
import requests
from requests.adapters import HTTPAdapter

from spy_gamma.quant.contracts import ROOT, is_spy_option, with_contract_fields
from spy_gamma.sources.errors import DataError, SourceError
from spy_gamma.sources.secrets import redact, strip_api_key

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.massive.com"  # Polygon's REST host since the rebrand; api.polygon.io also works
PAGE_LIMIT = 50_000  # documented maximum of /v3/quotes
QUOTE_RATE_HZ = 20.0  # planning guess of quotes per second per SPY contract; only sizes sweep pages
QUOTE_SCHEMA = {"ticker": pl.String, "sip_timestamp": pl.Int64, "bid_price": pl.Float64, "bid_size": pl.Int64,
                "ask_price": pl.Float64, "ask_size": pl.Int64, "bid_exchange": pl.Int32,
                "ask_exchange": pl.Int32, "sequence_number": pl.Int64}
# JSON sizes may arrive as 10.0; read them as floats, then cast. Timestamps stay integers (ns exceed 2**53).
_QUOTE_JSON = {"sip_timestamp": pl.Int64, "bid_price": pl.Float64, "bid_size": pl.Float64,
               "ask_price": pl.Float64, "ask_size": pl.Float64, "bid_exchange": pl.Int64,
               "ask_exchange": pl.Int64, "sequence_number": pl.Int64}
_RETRY_STATUSES = {429, 500, 502, 503, 504}


class PolygonRestClient:
    """REST v3 client: one ``requests.Session``, at most ``max_rps`` requests per second over ``concurrency``
    threads, exponential backoff with jitter on 429 (honouring Retry-After), 5xx and timeouts."""

    def __init__(self, api_key: str | None = None, base_url: str = DEFAULT_BASE_URL,
                 cache_dir: Path | None = None, max_rps: float = 50.0, concurrency: int = 8,
                 timeout: float = 30.0, max_attempts: int = 6, backoff_s: float = 0.5) -> None:
        key = api_key or os.environ.get("POLYGON_API_KEY")
        if not key:
            raise SourceError("no Polygon API key: pass api_key or set POLYGON_API_KEY")
        self._api_key = key
        self.base_url = base_url.rstrip("/")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.concurrency, self.timeout = concurrency, timeout
        self.max_attempts, self.backoff_s = max_attempts, backoff_s
        self._throttle = _Throttle(max_rps)
        self.requests_sent = 0  # HTTP requests that went to the network (cache hits excluded)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(concurrency, 1))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def __repr__(self) -> str:
        return f"PolygonRestClient(base_url={self.base_url!r}, cache_dir={self.cache_dir!r})"

    def quotes(self, ticker: str, gte_ns: int, lte_ns: int) -> pl.DataFrame:
        """Every quote of ``ticker`` with ``gte_ns <= sip_timestamp <= lte_ns``, ascending (``spy_quotes``)."""
        params = {"timestamp.gte": gte_ns, "timestamp.lte": lte_ns, "order": "asc", "sort": "timestamp",
                  "limit": PAGE_LIMIT}
        return _quote_frame(ticker, list(self._results(f"/v3/quotes/{ticker}", params)))

    def prevailing_quote(self, ticker: str, ts_ns: int) -> pl.DataFrame:
        """The last quote of ``ticker`` at or before ``ts_ns`` (zero rows if none), one request."""
        params = {"timestamp.lte": ts_ns, "order": "desc", "sort": "timestamp", "limit": 1}
        page = self._get_json(self._url(f"/v3/quotes/{ticker}", params))
        return _quote_frame(ticker, page.get("results") or [])

    def quotes_for_trades(self, trades: pl.DataFrame, window_ns: int = 1_000_000_000,
                          quote_rate_hz: float = QUOTE_RATE_HZ) -> pl.DataFrame:
        """The quotes needed to classify ``trades`` (``spy_trades`` rows), fetched concurrently under the rate
        limit with the cheaper plan per contract and day (see ``plan_quote_requests``)."""
        plan = plan_quote_requests(trades, window_ns, quote_rate_hz)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            frames = list(pool.map(self._run_request, plan.iter_rows(named=True)))
        quotes = pl.concat([_quote_frame("", []), *frames])
        return quotes.unique(["ticker", "sip_timestamp", "sequence_number"]).sort(
            ["ticker", "sip_timestamp", "sequence_number"])

    def open_interest(self, session: date, root: str = ROOT) -> pl.DataFrame:
        """OPRA open interest per contract at the close of ``session`` (Massive ``GET /options/v1/open-interest``).

        The ``open_interest`` table of day D holds OI at D's open, i.e. ``open_interest(previous trading day)``.
        """
        rows = list(self._results("/options/v1/open-interest", {"root": root, "date": session.isoformat()}))
        frame = pl.from_dicts(rows, schema={"ticker": pl.String, "open_interest": pl.Int64}) if rows else (
            pl.DataFrame(schema={"ticker": pl.String, "open_interest": pl.Int64}))
        spy = with_contract_fields(frame.filter(is_spy_option(pl.col("ticker"))))
        return spy.select(["ticker", "expiry", "right", "strike", "open_interest"]).sort("ticker")

    def _run_request(self, request: dict[str, Any]) -> pl.DataFrame:
        """Execute one planned request: a point look-up, or a sweep plus the quote prevailing at its start."""
        if request["method"] == "point":
            return self.prevailing_quote(request["ticker"], request["lte_ns"])
        return pl.concat([self.prevailing_quote(request["ticker"], request["gte_ns"]),
                          self.quotes(request["ticker"], request["gte_ns"], request["lte_ns"])])

    def _results(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Rows of every page, following ``next_url`` (the key stays in the header, never in the URL)."""
        url: str | None = self._url(path, params)
        while url:
            page = self._get_json(url)
            yield from page.get("results") or []
            url = self._on_our_host(page["next_url"]) if page.get("next_url") else None

    def _url(self, path: str, params: dict[str, Any]) -> str:
        return f"{self.base_url}{path}?{urlencode(params)}"

    def _on_our_host(self, next_url: str) -> str:
        """``next_url`` re-pointed at our base URL, so the bearer key only ever goes to the host we chose."""
        base, page = urlsplit(self.base_url), urlsplit(strip_api_key(next_url))
        return urlunsplit((base.scheme, base.netloc, page.path, page.query, ""))

    def _get_json(self, url: str) -> dict[str, Any]:
        """One GET through the disk cache, the rate limit and the retry policy."""
        cached = self._cache_path(url)
        if cached is not None and cached.is_file():
            return json.loads(cached.read_text())
        shown = self._safe(url)
        reason = "no attempt made"
        for attempt in range(1, self.max_attempts + 1):
            self._throttle.wait()
            self.requests_sent += 1
            pause = self.backoff_s * 2 ** (attempt - 1) * (1 + random.random())
            try:
                response = self.session.get(url, timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as error:
                reason = f"{type(error).__name__}"
            else:
                if response.status_code == 200:
                    return self._store(cached, _json(response, shown))
                reason = f"HTTP {response.status_code}"
                if response.status_code in (401, 403):
                    raise SourceError(f"{reason} from {shown}: the Polygon API key is wrong or its plan lacks "
                                      "this endpoint/history")
                if response.status_code not in _RETRY_STATUSES:
                    raise SourceError(f"{reason} from {shown}: {self._safe(response.text[:300])}")
                asked = _retry_after(response)
                pause = pause if asked is None else asked
            if attempt < self.max_attempts:
                log.warning("%s from %s, retry %d/%d in %.2fs", reason, shown, attempt, self.max_attempts - 1,
                            pause)
                time.sleep(pause)
        raise SourceError(f"{reason} from {shown} after {self.max_attempts} attempts; try later")

    def _cache_path(self, url: str) -> Path | None:
        """Cache file of a request: hash of its path and query without secrets (host-independent)."""
        if self.cache_dir is None:
            return None
        parts = urlsplit(strip_api_key(url))
        digest = hashlib.sha256(f"{parts.path}?{parts.query}".encode()).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.json"

    def _store(self, cached: Path | None, payload: dict[str, Any]) -> dict[str, Any]:
        """Write the response to the cache atomically (temp file + rename); ``next_url`` without any key."""
        if payload.get("next_url"):
            payload["next_url"] = strip_api_key(payload["next_url"])
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            scratch = cached.with_name(f"{cached.name}.{uuid.uuid4().hex}.tmp")
            scratch.write_text(self._safe(json.dumps(payload)))
            os.replace(scratch, cached)
        return payload

    def _safe(self, text: str) -> str:
        return redact(text, self._api_key)


def plan_quote_requests(trades: pl.DataFrame, window_ns: int = 1_000_000_000,
                        quote_rate_hz: float = QUOTE_RATE_HZ) -> pl.DataFrame:
    """REST calls fetching the quotes around ``trades``: one row per call (``ticker, method, gte_ns, lte_ns``).

    Per contract and trading day (New York date), the +-``window_ns`` windows around its trades are coalesced.
    A point plan costs one look-up per distinct trade time; a sweep plan costs, per window, one look-up of
    the quote prevailing at the window's start plus ceil(expected quotes / PAGE_LIMIT) pages. The cheaper
    plan wins (ties go to point look-ups, which move less data).
    """
    stamps = (trades.select("ticker", "sip_timestamp").unique()
              .with_columns(day=pl.from_epoch("sip_timestamp", time_unit="ns")
                            .dt.replace_time_zone("UTC").dt.convert_time_zone("America/New_York").dt.date())
              .sort("ticker", "sip_timestamp"))
    contract_day = ["ticker", "day"]
    windows = (stamps.with_columns(gte_ns=pl.col("sip_timestamp") - window_ns,
                                   lte_ns=pl.col("sip_timestamp") + window_ns)
               .with_columns(opens=(pl.col("gte_ns") > pl.col("lte_ns").cum_max().shift(1).over(contract_day))
                             .fill_null(True))
               .with_columns(window=pl.col("opens").cum_sum().over(contract_day)))
    spans = (windows.group_by([*contract_day, "window"])
             .agg(pl.col("gte_ns").min(), pl.col("lte_ns").max())
             .with_columns(requests=1 + ((pl.col("lte_ns") - pl.col("gte_ns")) / 1e9 * quote_rate_hz
                                         / PAGE_LIMIT).ceil().cast(pl.Int64).clip(lower_bound=1)))
    costs = (stamps.group_by(contract_day).len("point_requests")
             .join(spans.group_by(contract_day).agg(sweep_requests=pl.col("requests").sum()), on=contract_day)
             .with_columns(method=pl.when(pl.col("sweep_requests") < pl.col("point_requests"))
                           .then(pl.lit("sweep")).otherwise(pl.lit("point"))))
    points = (stamps.join(costs.filter(pl.col("method") == "point"), on=contract_day)
              .select("ticker", "method", gte_ns="sip_timestamp", lte_ns="sip_timestamp"))
    sweeps = (spans.join(costs.filter(pl.col("method") == "sweep"), on=contract_day)
              .select("ticker", "method", "gte_ns", "lte_ns"))
    return pl.concat([points, sweeps]).sort("ticker", "gte_ns")


class _Throttle:
    """Spaces request starts at least 1/max_rps seconds apart across threads."""

    def __init__(self, max_rps: float) -> None:
        self._interval = 1.0 / max_rps if max_rps > 0 else 0.0
        self._next_start = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
        time.sleep(max(0.0, start - now))


def _quote_frame(ticker: str, results: list[dict[str, Any]]) -> pl.DataFrame:
    """Polygon v3 quote results as ``spy_quotes`` rows (extra JSON fields such as conditions are ignored)."""
    if not results:
        return pl.DataFrame(schema=QUOTE_SCHEMA)
    frame = pl.from_dicts(results, schema=_QUOTE_JSON).with_columns(ticker=pl.lit(ticker))
    return frame.select([pl.col(name).cast(dtype) for name, dtype in QUOTE_SCHEMA.items()])


def _json(response: requests.Response, shown_url: str) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        raise DataError(shown_url, "response body is not JSON") from None
    if not isinstance(payload, dict):
        raise DataError(shown_url, "response JSON is not an object")
    return payload


def _retry_after(response: requests.Response) -> float | None:
    """Seconds the server asked us to wait (Retry-After in seconds), if any."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
