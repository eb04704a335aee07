"""``spy-gamma serve``: a read-only HTTP API over the lake (FastAPI, OpenAPI docs at ``/docs``) and the live page.

Every table endpoint takes an ``as_of`` (or session ``date``) and ``format=json|csv``; a malformed date is a 422, a
date or expiry the lake has nothing for is a 404 naming what it does have. Only GET routes exist, and every read
goes through the lake's read-only DuckDB ``query`` (SELECTs over the Parquet views, nothing else).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import plotly
import polars as pl
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from spy_gamma.lake import Lake, LakeError
from spy_gamma.report.exports import csv_ready

STATIC = Path(__file__).resolve().parent / "static"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class Format(StrEnum):
    """Response body: JSON rows or CSV."""

    json = "json"
    csv = "csv"


AsOf = Annotated[dt.date | None, Query(description="as-of close, YYYY-MM-DD (default: the latest in the lake)")]
Day = Annotated[dt.date | None, Query(description="live session date, YYYY-MM-DD (default: the latest)")]
Expiry = Annotated[dt.date | None, Query(description="only this expiry, YYYY-MM-DD")]
Fmt = Annotated[Format, Query(description="json or csv")]


def create_app(data_dir: Path) -> FastAPI:
    """The app over ``data_dir``'s lake."""
    lake = Lake(data_dir)
    app = FastAPI(title="spy-gamma", description="SPY dealer positioning: batch as-of tables and the live "
                                                 "session, read-only.", version="1")

    def rows(table: str, key_column: str, key: dt.date | None, where: str = "") -> tuple[dt.date, pl.DataFrame]:
        keys = lake.keys(table)
        if not keys:
            raise HTTPException(404, f"{table} has no rows yet: run spy-gamma run (or live) first")
        chosen = key or keys[-1]
        if chosen not in keys:
            raise HTTPException(404, f"{table} has nothing for {key_column} {chosen}; available: "
                                     f"{', '.join(map(str, keys[-10:]))}")
        try:
            frame = lake.query(f"select * from {table} where {key_column} = DATE '{chosen.isoformat()}' {where}")
        except (LakeError, OSError) as error:
            raise HTTPException(503, f"the lake is busy or unreadable ({error}); retry") from error
        return chosen, frame

    def with_expiry(table: str, as_of: dt.date | None, expiry: dt.date | None) -> pl.DataFrame:
        chosen, frame = rows(table, "as_of", as_of)
        if expiry is None:
            return frame
        listed = sorted(set(frame["expiry"].to_list()))
        if expiry not in listed:
            raise HTTPException(404, f"expiry {expiry} is not in {table} as of {chosen}; expiries: "
                                     f"{', '.join(map(str, listed))}")
        return frame.filter(pl.col("expiry") == expiry)

    @app.get("/api/levels", summary="Flip, walls, total GEX and their bands at an as-of close")
    def levels(as_of: AsOf = None, format: Fmt = Format.json) -> Response:
        return respond(rows("gamma_levels", "as_of", as_of)[1], format)

    @app.get("/api/levels_history", summary="One row per as-of close")
    def levels_history(start: AsOf = None, end: AsOf = None, format: Fmt = Format.json) -> Response:
        if start and end and start > end:
            raise HTTPException(400, f"start {start} is after end {end}")
        if not lake.keys("levels_history"):
            raise HTTPException(404, "levels_history has no rows yet: run spy-gamma run first")
        bounds = [f"as_of >= DATE '{start}'" if start else "", f"as_of <= DATE '{end}'" if end else ""]
        where = " and ".join(b for b in bounds if b)
        frame = lake.query("select * from levels_history" + (f" where {where}" if where else "") + " order by as_of")
        return respond(frame, format)

    @app.get("/api/positions", summary="Dealer position per contract at an as-of close")
    def positions(as_of: AsOf = None, expiry: Expiry = None, format: Fmt = Format.json) -> Response:
        return respond(with_expiry("dealer_positions", as_of, expiry), format)

    @app.get("/api/exposures_by_strike", summary="Dealer GEX/DEX/VEX/CEX by expiry and strike")
    def exposures(as_of: AsOf = None, expiry: Expiry = None, format: Fmt = Format.json) -> Response:
        return respond(with_expiry("exposures_by_strike", as_of, expiry), format)

    @app.get("/api/gamma_profile", summary="Total dealer GEX over the spot grid, with its band")
    def profile(as_of: AsOf = None, format: Fmt = Format.json) -> Response:
        return respond(rows("gamma_profile", "as_of", as_of)[1], format)

    @app.get("/api/intraday_flow", summary="Live session: cumulative dealer $ delta and $ gamma per step and group")
    def intraday_flow(date: Day = None, group: str | None = None, format: Fmt = Format.json) -> Response:
        chosen, frame = rows("live_flow", "date", date)
        if group is not None:
            groups = sorted(set(frame["group"].to_list()))
            if group not in groups:
                raise HTTPException(404, f"group {group!r} is not in the {chosen} flow; groups: {', '.join(groups)}")
            frame = frame.filter(pl.col("group") == group)
        return respond(frame.sort("step_end_ns", "group"), format)

    @app.get("/api/live/levels", summary="Live session: the re-priced levels at every step")
    def live_levels(date: Day = None, format: Fmt = Format.json) -> Response:
        return respond(rows("live_levels", "date", date)[1].sort("step_end_ns"), format)

    @app.get("/api/live/alerts", summary="Live session: positioning alerts")
    def live_alerts(date: Day = None, format: Fmt = Format.json) -> Response:
        return respond(rows("live_alerts", "date", date)[1].sort("step_end_ns"), format)

    @app.get("/api/live/latest", summary="Live session: the latest levels, profile, flow and alerts in one read")
    def live_latest(date: Day = None) -> Response:
        chosen, levels_frame = rows("live_levels", "date", date)
        latest = levels_frame.sort("step_end_ns").tail(1).to_dicts()[0]
        flow = rows("live_flow", "date", chosen)[1].filter(pl.col("group") == "all").sort("step_end_ns") \
            if chosen in lake.keys("live_flow") else pl.DataFrame()
        profile = rows("live_gamma_profile", "date", chosen)[1].select("spot", "total_gex")
        alerts = rows("live_alerts", "date", chosen)[1].sort("step_end_ns").tail(20) \
            if chosen in lake.keys("live_alerts") else pl.DataFrame()
        return json_response({"date": chosen, "latest": latest, "flow": _records(flow), "profile": _records(profile),
                              "alerts": _records(alerts)})

    @app.get("/live", response_class=HTMLResponse, summary="The live page (polls /api/live/latest)")
    def live_page() -> HTMLResponse:
        return HTMLResponse((STATIC / "live.html").read_text())

    @app.get("/static/plotly.min.js", summary="plotly.js, from the installed plotly package")
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="application/javascript")

    return app


def respond(frame: pl.DataFrame, format: Format) -> Response:
    """The frame as JSON rows or CSV."""
    if format is Format.csv:
        return Response(csv_ready(frame).write_csv(), media_type="text/csv")
    return json_response(_records(frame))


def json_response(payload) -> Response:
    """JSON with dates as ISO strings and non-finite floats as null."""
    return Response(json.dumps(_finite(payload), default=str), media_type="application/json")


def _records(frame: pl.DataFrame) -> list[dict]:
    return frame.to_dicts() if frame.height else []


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
