"""A local HTTP stand-in for Polygon/Massive REST: ``/v3/quotes/{ticker}`` and ``/options/v1/open-interest``.

Speaks the documented v3 shape: ``timestamp[.gte|.gt|.lte|.lt]`` filters, ``order``/``sort``, ``limit``
(default 1000, max 50000), ``next_url`` paging with an opaque cursor, envelope
``{results, status, request_id, next_url}``. It demands ``Authorization: Bearer <key>`` (401 otherwise),
refuses a key in the query string, and can answer chosen requests (by 1-based arrival number) with an error
status, e.g. ``faults={2: 429, 4: 500}``, or stall chosen requests past the client's timeout
(``stalls={3}``). ``max_limit`` lowers the page cap to exercise paging on small tables.
Reusable by any test that needs Polygon over real HTTP.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

QUOTE_FIELDS = ("ask_exchange", "ask_price", "ask_size", "bid_exchange", "bid_price", "bid_size",
                "sequence_number", "sip_timestamp", "participant_timestamp")
DEFAULT_LIMIT, MAX_LIMIT = 1000, 50_000


class PolygonServer:
    """Serve an in-memory quote table (rows with ``ticker`` + QUOTE_FIELDS) and open-interest rows on
    127.0.0.1 at a free port; use as a context manager. ``paths`` records every request received."""

    def __init__(self, api_key: str, quotes: Iterable[dict[str, Any]] = (),
                 open_interest: Iterable[dict[str, Any]] = (), faults: dict[int, int] | None = None,
                 stalls: Iterable[int] = (), stall_s: float = 1.0, retry_after_s: float = 0.0,
                 max_limit: int = MAX_LIMIT) -> None:
        self.api_key = api_key
        self.quotes: dict[str, list[dict[str, Any]]] = {}
        for row in quotes:
            self.quotes.setdefault(row["ticker"], []).append({name: row[name] for name in QUOTE_FIELDS})
        for rows in self.quotes.values():
            rows.sort(key=lambda quote: (quote["sip_timestamp"], quote["sequence_number"]))
        self.open_interest = sorted(open_interest, key=lambda row: row["ticker"])
        self.faults = dict(faults or {})
        self.stalls, self.stall_s = set(stalls), stall_s
        self.retry_after_s, self.max_limit = retry_after_s, max_limit
        self.paths: list[str] = []
        self.headers_seen: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def request_count(self) -> int:
        return len(self.paths)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def respond(self, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one GET."""
        with self._lock:
            self.paths.append(f"{path}?{urlencode(query)}")
            self.headers_seen.append(headers)
            arrival = len(self.paths)
        if any(name.lower() == "apikey" for name in query):
            return 400, {"status": "ERROR", "error": "API key must not be sent in the URL here"}
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"status": "ERROR", "error": "Unknown API Key"}
        if arrival in self.stalls:
            time.sleep(self.stall_s)
        if arrival in self.faults:
            return self.faults[arrival], {"status": "ERROR", "error": "injected fault"}
        if "cursor" in query:
            query = json.loads(base64.urlsafe_b64decode(query["cursor"]))
        if path.startswith("/v3/quotes/"):
            return 200, self._page(path, query, _filter_quotes(self.quotes.get(path.rsplit("/", 1)[1], []), query))
        if path == "/options/v1/open-interest":
            return 200, self._page(path, query, _filter_open_interest(self.open_interest, query))
        return 404, {"status": "NOT_FOUND", "error": f"no route {path}"}

    def _page(self, path: str, query: dict[str, str], rows: list[dict[str, Any]]) -> dict[str, Any]:
        """One page of ``rows`` starting at the cursor's offset, with ``next_url`` when more remain."""
        limit = min(int(query.get("limit", DEFAULT_LIMIT)), self.max_limit)
        offset = int(query.get("offset", 0))
        body: dict[str, Any] = {"results": rows[offset:offset + limit], "status": "OK",
                                "request_id": f"req-{len(self.paths)}"}
        if offset + limit < len(rows):
            cursor = base64.urlsafe_b64encode(json.dumps({**query, "offset": offset + limit},
                                                         sort_keys=True).encode()).decode()
            body["next_url"] = f"{self.base_url}{path}?cursor={cursor}"
        return body


def _filter_quotes(rows: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """Polygon's timestamp filters and ordering (default: descending by timestamp, as Polygon does)."""
    tests = {"timestamp": int.__eq__, "timestamp.gte": int.__ge__, "timestamp.gt": int.__gt__,
             "timestamp.lte": int.__le__, "timestamp.lt": int.__lt__}
    kept = [row for row in rows
            if all(test(row["sip_timestamp"], int(query[name])) for name, test in tests.items() if name in query)]
    return kept if query.get("order", "desc") == "asc" else kept[::-1]


def _filter_open_interest(rows: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    return [row for row in rows if all(str(row[name]) == query[name] for name in ("root", "date", "ticker")
                                       if name in query)]


def _handler_for(server: PolygonServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, body = server.respond(parts.path, query, headers)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == 429:
                self.send_header("Retry-After", f"{server.retry_after_s:g}")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

    return Handler
