"""Everything the run writes into the output folder (ARCHITECTURE §5), each file written atomically."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.offline import get_plotlyjs

from spy_gamma.files import publish
from spy_gamma.report import theme
from spy_gamma.report.browser import find_chromium
from spy_gamma.report.bundle import (
    EXPOSURE_CSV_COLUMNS,
    POSITION_CSV_COLUMNS,
    PROFILE_CSV_COLUMNS,
    ReportBundle,
)
from spy_gamma.report.dashboard import PLOTLY_JS_FILE, render_dashboard
from spy_gamma.report.figures import DASHBOARD_FIGURES, FIGURES
from spy_gamma.report.markdown import comprehensive_report, executive_summary

log = logging.getLogger(__name__)

PNG_SIZE = {"width": 1400, "height": 640, "scale": 1}


def write_atomic(path: Path, content: str | bytes) -> Path:
    """Write to a temporary file beside ``path``, then publish it (user's umask, rename): readers never see half a
    file, and a failed write (full disk) leaves no temp file and names ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        publish(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    return path


def json_ready(value):
    """Plain JSON values: NaN/inf -> null, dates ISO, NumPy scalars to Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_summary_json(summary: dict, path: Path) -> Path:
    """analysis_summary.json, strict JSON (no NaN tokens)."""
    return write_atomic(path, json.dumps(json_ready(summary), indent=2, allow_nan=False) + "\n")


def contract_first(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """The contract's columns first and in order, any extra columns after them."""
    return frame.select(*columns, *(c for c in frame.columns if c not in columns))


def csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns (``dealer_positions.block_flows``) as ``[a, b]`` text: CSV has no nested values."""
    nested = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    return frame.with_columns(
        pl.format("[{}]", pl.col(name).list.eval(pl.element().cast(pl.String)).list.join(", ")).alias(name)
        for name in nested)


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    """CSV with a header row, dates ISO (Polars' defaults), written atomically."""
    buffer = io.BytesIO()
    csv_ready(frame).write_csv(buffer)
    return write_atomic(path, buffer.getvalue())


_PNG_SESSION = {"open": False}  # True inside png_session(): kaleido's persistent server renders every PNG


@contextmanager
def png_session() -> Iterator[None]:
    """Keep ONE Chromium (kaleido's persistent sync server) for every PNG export inside the block, e.g. all the
    days of a backfill; without a browser the block runs and write_pngs warns as usual."""
    browser = find_chromium()
    if browser is None or _PNG_SESSION["open"]:
        yield
        return
    import kaleido

    kaleido.start_sync_server(**_kaleido_options(browser), silence_warnings=True)
    _PNG_SESSION["open"] = True
    try:
        yield
    finally:
        _PNG_SESSION["open"] = False
        kaleido.stop_sync_server(silence_warnings=True)


def _kaleido_options(browser: str) -> dict:
    """The browser to drive, and no MathJax (kaleido would fetch it online); Plotly is plotly.py's own
    plotly.min.js, the file the report folder shares."""
    return {"path": browser, "mathjax": False}


def write_pngs(figures: dict[str, go.Figure], output_dir: Path) -> dict[str, Path]:
    """One PNG per chart, all rendered in ONE kaleido session (one Chromium) for the whole export, or in the
    session png_session() holds open; without a browser, one warning and no PNGs."""
    browser = find_chromium()
    if browser is None:
        log.warning(
            "PNG export skipped: no Chrome/Chromium found (set BROWSER_PATH); HTML and data files written."
        )
        return {}
    import kaleido

    staged = {name: output_dir / f".tmp.{name}.png" for name in figures}
    jobs = [
        {"fig": fig, "path": str(staged[name]), "opts": {"format": "png", **PNG_SIZE}}
        for name, fig in figures.items()
    ]
    session = {} if _PNG_SESSION["open"] else {"kopts": _kaleido_options(browser)}
    errors = _render(kaleido, jobs, session)
    if errors:  # kaleido can race its own page load under load ("kaleido_scopes is not defined"): once more
        errors = _render(kaleido, jobs, session)
    if errors:
        log.warning("PNG export skipped: kaleido with %s failed (%s).", browser, errors[0])
    written = {}
    for name, tmp in staged.items():
        if not errors and tmp.exists():
            target = output_dir / f"{name}.png"
            publish(tmp, target)
            written[target.name] = target
        tmp.unlink(missing_ok=True)
    return written


def _render(kaleido, jobs: list[dict], session: dict) -> tuple:
    """kaleido's errors rendering ``jobs`` (empty when every PNG was written); a broken browser never raises."""
    try:
        return tuple(kaleido.write_fig_from_object_sync(jobs, **session) or ())
    except Exception as error:  # noqa: BLE001 - a broken browser must never sink the run
        return (error,)


def standalone_page(fig: go.Figure) -> str:
    """One chart on its own page; Plotly JS from the folder's shared plotly.min.js, so it opens offline."""
    return fig.to_html(
        include_plotlyjs=PLOTLY_JS_FILE,
        full_html=True,
        config=theme.PLOTLY_CONFIG,
        default_width="100%",
        default_height="100vh",
    ).replace("<body>", f'<body style="margin:0;background:{theme.PANEL}">', 1)


def write_reports(bundle: ReportBundle, output_dir: Path | str) -> dict[str, Path]:
    """Write the dashboard, panels, PNGs, Markdown reports, JSON summary and CSVs; name -> path written."""
    output_dir = Path(output_dir)
    figures = {name: build(bundle) for name, build in FIGURES.items()}
    on_page = {name: figures[name] if build is FIGURES[name] else build(bundle)
               for name, build in DASHBOARD_FIGURES.items()}
    files = {
        PLOTLY_JS_FILE: get_plotlyjs(),
        "dashboard.html": render_dashboard(bundle, on_page),
        **{f"{name}.html": standalone_page(fig) for name, fig in figures.items()},
        "executive_summary.md": executive_summary(bundle),
        "comprehensive_report.md": comprehensive_report(bundle),
    }
    written = {name: write_atomic(output_dir / name, content) for name, content in files.items()}
    written["analysis_summary.json"] = write_summary_json(
        bundle.summary, output_dir / "analysis_summary.json"
    )
    tables = {
        "dealer_positions.csv": contract_first(bundle.positions, POSITION_CSV_COLUMNS),
        "exposures_by_strike.csv": contract_first(bundle.exposures_by_strike, EXPOSURE_CSV_COLUMNS),
        "gamma_profile.csv": contract_first(bundle.gamma_profile, PROFILE_CSV_COLUMNS),
    }
    written |= {name: write_csv(frame, output_dir / name) for name, frame in tables.items()}
    written |= write_pngs(figures, output_dir)
    return written
