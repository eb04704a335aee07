"""``spy-gamma``: simulate, run, demo, query and bench, with progress bars."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from spy_gamma.defs.resources import DEFAULT_DATE, DEFAULT_EXPIRIES

console = Console(stderr=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.data_dir:
        os.environ["SPY_GAMMA_DATA_DIR"] = str(Path(args.data_dir).resolve())
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]")
        return 130
    except Exception as error:  # noqa: BLE001 - the one place any failure becomes a clear line and exit 1
        console.print(f"[bold red]error:[/bold red] {_safe_message(error)}", soft_wrap=True, highlight=False)
        return 1


def _safe_message(error: Exception) -> str:
    """The error's own message, rich markup escaped and every credential set in the environment masked."""
    from rich.markup import escape

    from spy_gamma.sources.secrets import environment_secrets, redact

    return escape(redact(str(error), *environment_secrets()))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spy-gamma", description=__doc__)
    parser.add_argument("--data-dir", help="where all state lives (default: $SPY_GAMMA_DATA_DIR or ./data)")
    commands = parser.add_subparsers(dest="command", required=True)

    simulate = commands.add_parser("simulate", help="write the embedded simulated market in Polygon's layout")
    simulate.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2025, 9, 5))
    simulate.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2025, 10, 10))
    simulate.add_argument("--out", type=Path, default=None)
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--scale", type=float, default=0.01, help="1.0 = a full OPRA day (~6 M trades)")
    simulate.set_defaults(handler=_simulate)

    for name, help_text in (("run", "materialize every asset for a window and write the outputs"),
                            ("demo", "run the default analysis on the embedded market")):
        run = commands.add_parser(name, help=help_text)
        run.add_argument("--date", default=DEFAULT_DATE, help="analysis date (positions as of the last close)")
        run.add_argument("--expiry", nargs="+", default=DEFAULT_EXPIRIES, help="target expiries")
        run.add_argument("--output", type=Path, default=Path("reports/spy_gamma_dashboard"))
        run.add_argument("--source", choices=["simulated", "local", "s3"], default=None)
        run.add_argument("--flatfiles", type=Path, default=None, help="flat-file root for --source local")
        run.add_argument("--spot", type=float, default=None, help="override the spot price")
        run.add_argument("--skip-download", action="store_true", help="reuse the lake; recompute window assets")
        run.set_defaults(handler=_run)

    backfill = commands.add_parser("backfill", help="a real Dagster backfill over trading days, followed to the end")
    backfill.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2025, 9, 5))
    backfill.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2025, 10, 3))
    backfill.add_argument("--url", default=None, help="a running Dagster webserver (default: start dagster dev)")
    backfill.set_defaults(handler=_backfill)

    query = commands.add_parser("query", help="SQL over the DuckDB catalog (read-only)")
    query.add_argument("sql")
    query.set_defaults(handler=_query)

    bench = commands.add_parser("bench", help="benchmarks written to reports/bench/")
    bench.add_argument("which", choices=["accuracy", "greeks", "pipeline"])
    bench.add_argument("--json", type=Path, default=None)
    bench.add_argument("--days", type=int, default=2)
    bench.add_argument("--rows-per-day", type=int, default=3_000_000)
    bench.add_argument("--options", type=int, default=2_000_000, help="options for the greeks bench")
    bench.set_defaults(handler=_bench)
    return parser


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), console=console, transient=False)


def _simulate(args) -> int:
    from spy_gamma.sources.simulator import simulate_market
    from spy_gamma.trading_calendar import trading_days

    out = args.out or Path(os.environ.get("SPY_GAMMA_DATA_DIR", "data")) / "flatfiles" / "simulated"
    days = trading_days(args.start, args.end)
    with _progress() as bar:
        task = bar.add_task("simulating", total=len(days))
        summary = simulate_market(args.start, args.end, out, seed=args.seed, scale=args.scale,
                                  progress=lambda day: bar.update(task, advance=1, description=f"simulated {day}"))
    console.print(f"wrote {len(days)} trading days to {out} ({summary})")
    return 0


def _run(args) -> int:
    from spy_gamma.pipeline import SPYPositioningPipeline

    with _progress() as bar:
        task = bar.add_task("starting", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        pipeline = SPYPositioningPipeline(output_dir=args.output, spot_price=args.spot, source=args.source,
                                          flatfiles_dir=args.flatfiles, progress=report)
        summary = pipeline.run_full_analysis(args.date, args.expiry, skip_download=args.skip_download)
    _print_summary(summary, args.output)
    return 0


def _print_summary(summary: dict, output: Path) -> None:
    from spy_gamma.report.formatting import fmt_level, fmt_usd

    def wall(level: dict) -> str:
        return f"{fmt_level(level.get('strike'))} ({fmt_usd(level.get('gex'))} dealer GEX)"

    table = Table(title=f"SPY dealer positioning as of the {summary.get('as_of')} close (dealer perspective)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [("spot", fmt_level(summary.get("spot"))), ("total dealer GEX per 1%", fmt_usd(summary.get("total_gex"))),
            ("gamma flip", fmt_level(summary.get("gamma_flip"))), ("call wall", wall(summary.get("call_wall") or {})),
            ("put wall", wall(summary.get("put_wall") or {})), ("regime", (summary.get("regime") or {}).get("label", "")),
            *((f"max pain {expiry}", fmt_level(strike)) for expiry, strike in (summary.get("max_pain") or {}).items())]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
    page = (output / "dashboard.html").resolve()
    Console().print(f"dashboard: file://{page}\nreports, CSV and JSON: {output.resolve()}/")


def _backfill(args) -> int:
    from contextlib import nullcontext

    from spy_gamma.dagster_server import DagsterServer, launch_backfill, wait_for_backfill
    from spy_gamma.definitions import defs
    from spy_gamma.trading_calendar import trading_days

    days = [d.isoformat() for d in trading_days(args.start, args.end)]
    graph = defs.resolve_asset_graph()
    daily = [k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is not None]
    data_dir = Path(os.environ.get("SPY_GAMMA_DATA_DIR", "data")).resolve()
    server = nullcontext() if args.url else DagsterServer(data_dir / "dagster_home")
    with server as running, _progress() as bar:
        url = args.url or running.url
        backfill_id = launch_backfill(url, days, daily, title=f"spy-gamma {days[0]}..{days[-1]}")
        task = bar.add_task(f"backfill {backfill_id} ({len(days)} days x {len(daily)} assets)", total=None)
        status = wait_for_backfill(url, backfill_id, progress=lambda done, total: bar.update(
            task, completed=done, total=total))
    console.print(f"backfill {backfill_id}: {status['status']} (UI: {url}/overview/backfills/{backfill_id})")
    return 0 if status["status"] in ("COMPLETED", "COMPLETED_SUCCESS") else 1


def _query(args) -> int:
    import duckdb

    data_dir = Path(os.environ.get("SPY_GAMMA_DATA_DIR", "data"))
    with duckdb.connect(str(data_dir / "spy_gamma.duckdb"), read_only=True) as connection:
        cursor = connection.execute(args.sql)
        table = Table(*(column[0] for column in cursor.description))
        for row in cursor.fetchmany(200):
            table.add_row(*(str(v) for v in row))
    Console().print(table)
    return 0


def _bench(args) -> int:
    out = args.json or Path("reports/bench") / f"{args.which}.json"
    if args.which == "accuracy":
        from spy_gamma.bench.accuracy import run_accuracy_bench as bench
        result = bench(json_path=out)
    elif args.which == "greeks":
        from spy_gamma.bench.greeks import run_greeks_bench
        result = run_greeks_bench(n=args.options, json_path=out)
    else:
        from spy_gamma.bench.pipeline import run_pipeline_bench
        result = run_pipeline_bench(days=args.days, rows_per_day=args.rows_per_day, json_path=out)
    console.print(f"wrote {out}")
    return 0 if result else 1


if __name__ == "__main__":
    sys.exit(main())
