"""``spy-gamma``: demo, run, simulate, backfill, query, bench (and live, serve), with progress bars.

Arguments are validated before any work starts (exit 2, the flag named). A failure prints one line (what went
wrong, where, what to do) and writes the traceback to a log file whose path it prints; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import traceback
import warnings
from pathlib import Path

from rich.console import Console

from spy_gamma.signals import restore_default_sigterm

console = Console(stderr=True, highlight=False)
DEFAULT_DATE = "2025-10-05"
DEFAULT_EXPIRIES = ["2025-10-06", "2025-10-08", "2025-10-10"]
DEFAULT_OUTPUT = Path("reports/spy_gamma_dashboard")
OUTPUT_MARKER = ".spy-gamma-output"  # marks a folder a previous run wrote: it may be written again
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    restore_default_sigterm()
    warnings.filterwarnings("ignore", module="dagster")
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    args = _parser().parse_args(argv)
    os.environ["SPY_GAMMA_DATA_DIR"] = str(Path(args.data_dir or os.environ.get("SPY_GAMMA_DATA_DIR", "data")).resolve())
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red] (exit 130); re-running resumes: finished partitions are kept")
        return 130
    except Exception as error:  # noqa: BLE001 - the one place any failure becomes one clear line and exit 1
        log = _write_log(error)
        console.print(f"[bold red]error:[/bold red] {_safe(str(error).splitlines()[0] if str(error) else type(error).__name__)}",
                      soft_wrap=True)
        console.print(f"details: {log}", soft_wrap=True)
        return 1


def _safe(text: str) -> str:
    """A message with rich markup escaped and every credential set in the environment masked."""
    from rich.markup import escape

    from spy_gamma.sources.secrets import environment_secrets, redact

    return escape(redact(text, *environment_secrets()))


def _write_log(error: BaseException) -> Path:
    """The traceback (credentials masked) in ``<data dir>/logs/``; the path, or where it could not be written."""
    from spy_gamma.sources.secrets import environment_secrets, redact

    folder = Path(os.environ["SPY_GAMMA_DATA_DIR"]) / "logs"
    path = folder / f"spy-gamma-{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
    text = "".join(traceback.format_exception(error))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(redact(text, *environment_secrets()))
    except OSError as log_error:
        return Path(f"(no log: {folder} not writable: {log_error.strerror})")
    return path


def iso_date(text: str) -> dt.date:
    """A calendar date written YYYY-MM-DD (ISO week dates and other forms are refused)."""
    if not ISO_DATE.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a calendar date") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spy-gamma", description="SPY options dealer positioning from OPRA trades.")
    parser.add_argument("--data-dir", help="where all state lives (default: $SPY_GAMMA_DATA_DIR or ./data)")
    commands = parser.add_subparsers(dest="command", required=True)

    simulate = commands.add_parser("simulate", help="write the embedded simulated market in Polygon's layout")
    simulate.add_argument("--start", type=iso_date, default=dt.date(2025, 9, 2))
    simulate.add_argument("--end", type=iso_date, default=dt.date(2025, 10, 10))
    simulate.add_argument("--out", type=Path, default=None)
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--scale", type=float, default=0.01, help="1.0 = a full OPRA day (~6 M trades)")
    simulate.add_argument("--randomize", action="store_true", help="draw the microstructure from the seed")
    simulate.set_defaults(handler=_simulate)

    for name, help_text in (("run", "materialize a window's sessions and an as-of analysis; write the outputs"),
                            ("demo", "run the default analysis on the embedded market")):
        run = commands.add_parser(name, help=help_text)
        run.add_argument("--date", type=iso_date, default=iso_date(DEFAULT_DATE),
                         help=f"analysis date, YYYY-MM-DD (default {DEFAULT_DATE}); positions are as of the last "
                              "session close before or on it, so a morning run gives the previous close's book")
        run.add_argument("--expiry", type=iso_date, nargs="*", default=None,
                         help="target expiries (default: every listed expiry of the next five sessions; the demo "
                              f"uses {' '.join(DEFAULT_EXPIRIES)})")
        run.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                         help=f"folder for the dashboard, reports, CSV and JSON (default {DEFAULT_OUTPUT})")
        if name == "run":
            run.add_argument("--source", choices=["simulated", "local", "s3"], default=None,
                             help="where the flat files come from (default: s3 when POLYGON_S3_ACCESS_KEY and "
                                  "POLYGON_S3_SECRET_KEY are set, else the embedded simulated market)")
            run.add_argument("--flatfiles", type=Path, default=None, help="flat-file root for --source local")
        else:
            run.set_defaults(source="simulated", flatfiles=None)  # the demo is the embedded market, credentials or not
        run.add_argument("--spot", type=float, default=None, help="price the book at this spot instead of the close")
        run.add_argument("--skip-download", action="store_true", help="reuse the lake's sessions; recompute the as-of")
        run.add_argument("--refresh", action="store_true", help="rebuild every session of the window from the files")
        run.set_defaults(handler=_run, parser=run, demo=name == "demo")

    backfill = commands.add_parser("backfill", help="a real Dagster backfill of as-of closes (and their sessions)")
    backfill.add_argument("--start", type=iso_date, default=dt.date(2025, 9, 29))
    backfill.add_argument("--end", type=iso_date, default=dt.date(2025, 10, 3))
    backfill.add_argument("--url", default=None, help="a running Dagster webserver (default: start dagster dev)")
    backfill.set_defaults(handler=_backfill, parser=backfill)

    query = commands.add_parser("query", help="one SELECT over the DuckDB catalog (read-only, confined to the lake)")
    query.add_argument("sql", help='one SELECT over the lake\'s views (list them with "show tables")')
    query.add_argument("--format", choices=["table", "csv", "json"], default="table")
    query.set_defaults(handler=_query)

    bench = commands.add_parser("bench", help="benchmarks written to reports/bench/")
    bench.add_argument("which", choices=["accuracy", "greeks", "pipeline", "live"])
    bench.add_argument("--json", type=Path, default=None)
    bench.add_argument("--markets", type=int, default=20, help="randomized markets for the accuracy bench")
    bench.add_argument("--scale", type=float, default=None,
                       help="accuracy bench: simulated volume per market (1.0 = a full OPRA day; default 0.004)")
    bench.add_argument("--days", type=int, default=2)
    bench.add_argument("--rows-per-day", type=int, default=3_000_000)
    bench.add_argument("--options", type=int, default=2_000_000, help="options for the greeks bench")
    bench.set_defaults(handler=_bench)

    live = commands.add_parser("live", help="stream the session's trades and quotes into a live dealer book")
    live.add_argument("--replay", type=iso_date, default=None,
                      help="replay this simulated session through a local WebSocket server (no credentials)")
    live.add_argument("--speed", type=float, default=60.0, help="replay speed, x real time (0: as fast as possible)")
    live.add_argument("--date", type=iso_date, default=None, help="live session date (default: today, New York)")
    live.add_argument("--expiry", type=iso_date, nargs="*", default=None,
                      help="target expiries (default: the previous close's batch run's)")
    live.add_argument("--delayed", action="store_true", help="use the 15-minute delayed feed")
    live.add_argument("--webhook", default=None, help="POST alerts (JSON) to this http(s) URL")
    live.add_argument("--step-seconds", type=int, default=60, help="re-price every this many seconds of market time")
    live.add_argument("--hindsight", action="store_true",
                      help="start from the day's own batch run (its book at the previous close and its fit): the "
                           "live close then reconciles print for print with that run")
    live.set_defaults(handler=_live, parser=live)

    serve = commands.add_parser("serve", help="read-only HTTP API and the live page on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="TCP port on 127.0.0.1 (default 8000)")
    serve.set_defaults(handler=_serve, parser=serve)
    return parser


def _progress():
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), console=console, transient=False)


def _simulate(args) -> int:
    from spy_gamma.sources.simulator import simulate_market
    from spy_gamma.sources.simulator.params import MarketParams
    from spy_gamma.trading_calendar import trading_days

    out = args.out or Path(os.environ["SPY_GAMMA_DATA_DIR"]) / "flatfiles" / "simulated"
    days = trading_days(args.start, args.end)
    params = MarketParams.draw(args.seed) if args.randomize else None
    with _progress() as bar:
        task = bar.add_task("simulating", total=len(days))
        summary = simulate_market(args.start, args.end, out, seed=args.seed, scale=args.scale, params=params,
                                  progress=lambda day: bar.update(task, advance=1, description=f"simulated {day}"))
    console.print(f"wrote {len(summary.days)} trading days to {out} in {summary.seconds:.1f} s")
    return 0


def validated_run(args) -> tuple[dt.date, list[dt.date]]:
    """The as-of close and target expiries, or exit 2 naming the flag: expiries after the as-of close, sessions,
    no duplicates; the output folder new, empty or a previous spy-gamma output."""
    from spy_gamma.trading_calendar import CalendarRangeError, is_trading_day, last_trading_day

    try:
        as_of = last_trading_day(args.date)
    except CalendarRangeError as error:
        args.parser.error(f"argument --date: {error}")
    expiries = args.expiry if args.expiry is not None else (
        [iso_date(e) for e in DEFAULT_EXPIRIES] if args.demo else [])
    problems = [f"{e} is on or before the as-of close {as_of} (it has settled)" for e in expiries if e <= as_of]
    problems += [f"{e} is not an NYSE session (no SPY option expires then)" for e in expiries
                 if e > as_of and not is_trading_day(e)]
    problems += [f"{e} is given twice" for e in sorted(set(expiries)) if expiries.count(e) > 1]
    if problems:
        args.parser.error("argument --expiry: " + "; ".join(problems))
    guard_output(args.output, args.parser)
    return as_of, sorted(set(expiries))


def guard_output(output: Path, parser: argparse.ArgumentParser) -> None:
    """Refuse an output folder that holds anything but an earlier spy-gamma output (and the root of anything)."""
    folder = output.resolve()
    if folder == Path(folder.anchor) or folder == Path.home():
        parser.error(f"argument --output: refusing to write into {folder}")
    if folder.exists() and not folder.is_dir():
        parser.error(f"argument --output: {folder} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / OUTPUT_MARKER).exists():
        parser.error(f"argument --output: {folder} is not empty and is not an earlier spy-gamma output; "
                     "choose a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OUTPUT_MARKER).touch()


def _run(args) -> int:
    as_of, expiries = validated_run(args)
    from spy_gamma.pipeline import SPYPositioningPipeline

    with _progress() as bar:
        task = bar.add_task("starting", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        pipeline = SPYPositioningPipeline(output_dir=args.output, spot_price=args.spot, source=args.source,
                                          flatfiles_dir=args.flatfiles, progress=report)
        summary = pipeline.run_full_analysis(args.date, expiries, skip_download=args.skip_download,
                                           refresh=args.refresh)
    _print_summary(summary, args.output)
    _say_how_to_get_pngs(args.output)
    return 0


def _print_summary(summary: dict, output: Path) -> None:
    from rich.table import Table

    from spy_gamma.report.formatting import fmt_level, fmt_usd

    def banded(value: str, band: dict | None, fmt) -> str:
        band = band or {}
        return f"{value} (90%: {fmt(band.get('p05'))} .. {fmt(band.get('p95'))})"

    call, put = summary.get("call_wall") or {}, summary.get("put_wall") or {}
    table = Table(title=f"SPY dealer positioning as of the {summary.get('as_of')} close (dealer perspective)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [("spot", fmt_level(summary.get("spot"))),
            ("total dealer GEX per 1%",
             banded(fmt_usd(summary.get("total_gex")), summary.get("total_gex_band"), fmt_usd)),
            ("P(dealers long gamma)", f"{summary.get('prob_dealers_long_gamma', 0):.0%}"),
            ("gamma flip", banded(fmt_level(summary.get("gamma_flip")), summary.get("gamma_flip_band"), fmt_level)),
            ("call wall", banded(fmt_level(call.get("strike")), call.get("band"), fmt_level)),
            ("put wall", banded(fmt_level(put.get("strike")), put.get("band"), fmt_level)),
            ("regime", (summary.get("regime") or {}).get("label", "")),
            *((f"max pain {expiry}", fmt_level(strike)) for expiry, strike in (summary.get("max_pain") or {}).items())]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
    for warning in (summary.get("data_quality") or {}).get("warnings", []):
        Console().print(f"data quality WARN: {warning}")
    Console().print(f"dashboard: file://{(output / 'dashboard.html').resolve()}\nreports, CSV and JSON: {output.resolve()}/")


def _say_how_to_get_pngs(output: Path) -> None:
    """Once, at the end: PNGs need a Chromium; say how to get one when none was found."""
    if not any(output.glob("*.png")):
        console.print("note: no PNG charts were written (no Chromium found). Install Debian's browser with "
                      "`sudo apt-get install chromium` (or set BROWSER_PATH) and run again.")


def _backfill(args) -> int:
    from contextlib import nullcontext

    from spy_gamma.dagster_server import DagsterServer, launch_backfill, wait_for_backfill
    from spy_gamma.definitions import defs
    from spy_gamma.defs.jobs import AS_OF_GROUPS, DAILY_GROUPS
    from spy_gamma.defs.partitions import WINDOW_SESSIONS, trading_days
    from spy_gamma.trading_calendar import next_trading_day, sessions_ending
    from spy_gamma.trading_calendar import trading_days as sessions_between

    closes = sessions_between(args.start, args.end)
    if not closes:
        args.parser.error(f"arguments --start/--end: no NYSE session between {args.start} and {args.end}")
    keys = set(trading_days.get_partition_keys())
    first_daily = max(sessions_ending(closes[0], WINDOW_SESSIONS)[0].isoformat(), min(keys))
    last_daily = next_trading_day(closes[-1]).isoformat()
    last_daily = last_daily if last_daily in keys else closes[-1].isoformat()
    graph = defs.resolve_asset_graph()
    ranges = {key.to_user_string(): (first_daily, last_daily) if graph.get(key).group_name in DAILY_GROUPS else
              (closes[0].isoformat(), closes[-1].isoformat())
              for key in graph.get_all_asset_keys() if graph.get(key).group_name in (*DAILY_GROUPS, *AS_OF_GROUPS)}
    data_dir = Path(os.environ["SPY_GAMMA_DATA_DIR"])
    server = nullcontext() if args.url else DagsterServer(data_dir / "dagster_home")
    with server as running, _progress() as bar:
        url = args.url or running.url
        backfill_id = launch_backfill(url, ranges, title=f"spy-gamma as of {closes[0]}..{closes[-1]}")
        task = bar.add_task(f"backfill {backfill_id}", total=None)
        status = wait_for_backfill(url, backfill_id, progress=lambda done, total: bar.update(
            task, completed=done, total=total))
    console.print(f"backfill {backfill_id}: {status['status']} (UI: {url}/runs/b/{backfill_id})")
    return 0 if status["status"] in ("COMPLETED", "COMPLETED_SUCCESS") else 1


def _query(args) -> int:
    import json

    from spy_gamma.lake import Lake
    from spy_gamma.report.exports import csv_ready

    frame = Lake(Path(os.environ["SPY_GAMMA_DATA_DIR"])).query(args.sql)
    if args.format == "csv":
        sys.stdout.write(csv_ready(frame).write_csv())
    elif args.format == "json":
        sys.stdout.write(json.dumps(frame.to_dicts(), default=str, indent=1) + "\n")
    else:
        from rich.table import Table

        table = Table(*frame.columns)
        for row in frame.iter_rows():
            table.add_row(*(str(v) for v in row))
        Console(width=max(120, 16 * len(frame.columns))).print(table)
    return 0


def _bench(args) -> int:
    out = args.json or Path("reports/bench") / f"{args.which}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.which == "accuracy":
        from spy_gamma.bench.accuracy import SCALE, run_accuracy_bench

        result = run_accuracy_bench(markets=args.markets, json_path=out, scale=args.scale or SCALE)
    elif args.which == "greeks":
        from spy_gamma.bench.greeks import run_greeks_bench

        result = run_greeks_bench(n=args.options, json_path=out)
    elif args.which == "live":
        from spy_gamma.bench.live import run_live_bench

        result = run_live_bench(json_path=out)
    else:
        from spy_gamma.bench.pipeline import run_pipeline_bench

        result = run_pipeline_bench(days=args.days, rows_per_day=args.rows_per_day, json_path=out)
    console.print(f"wrote {out}")
    return 0 if result else 1


def _live(args) -> int:
    from spy_gamma.live.cli import run_live_command

    return run_live_command(args, console)


def _serve(args) -> int:
    if not 0 < args.port < 65536:
        args.parser.error(f"argument --port: {args.port} is not a TCP port")
    import uvicorn

    from spy_gamma.api.app import create_app

    console.print(f"serving http://127.0.0.1:{args.port}/docs and /live (read-only; Ctrl-C stops)")
    uvicorn.run(create_app(Path(os.environ["SPY_GAMMA_DATA_DIR"])), host="127.0.0.1", port=args.port,
                log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
