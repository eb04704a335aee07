"""``spy-gamma bench pipeline``: the whole chain at OPRA scale through Dagster, against the gzip floor and a pandas peer.

One run measures, on the same simulated Polygon-format days (R trade rows a day across all roots, SPY ~20%):
the **floor** (one pass of isal gzip decompression over the day files, nothing else), **ours** (``spy-gamma run``'s
in-process Dagster chain, seconds per stage from Dagster's own step timings), the **peer** (the pandas
implementation in :mod:`spy_gamma.bench.pandas_peer`) and the dashboard's render time in headless Chromium.
Ours and the peer each run in a fresh process; peak RSS is sampled over that process and its children together.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Self

from isal import igzip

from spy_gamma.sources.flatfiles import flatfile_key
from spy_gamma.trading_calendar import trading_days

BENCH_AS_OF = dt.date(2025, 10, 3)  # the default analysis's as-of close; the window is the N sessions ending here
BENCH_EXPIRIES = ["2025-10-06", "2025-10-08", "2025-10-10", "2025-10-17"]  # the default three and the monthly
FULL_OPRA_DAY_ROWS = 6_000_000  # simulator scale 1.0
SEED = 7
FLOOR_READ_BYTES = 8 * 1024 * 1024  # isal's fastest read size here (32 MB reads cost ~60% more: cache, page faults)
DAY_KINDS = ("trades", "quotes", "minute_aggs", "open_interest")
STAGES = ("ingest", "classify", "greeks", "analytics", "reports", "checks", "dagster_run_overhead")


def run_pipeline_bench(days: int = 2, rows_per_day: int = 3_000_000, json_path: Path | None = None,
                       data_dir: Path | None = None, seed: int = SEED) -> dict:
    """Simulate (or reuse) the days, then time floor, ours and the peer; write JSON and Markdown, print the table."""
    bench_dir = Path(data_dir or os.environ.get("SPY_GAMMA_DATA_DIR", "data")) / "bench"
    window = bench_window(days)
    flatfiles = bench_dir / "flatfiles" / f"opra_{rows_per_day}r_seed{seed}"
    market = ensure_market(flatfiles, window, rows_per_day, seed)
    files = day_files(flatfiles, window)
    floor_s = decompression_floor([path for day in files for path in day.values()])
    run_dir = bench_dir / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    ours = in_fresh_process(measure_ours, flatfiles, run_dir, window)
    ours |= in_fresh_process(measure_morning, flatfiles, run_dir, window)
    peer = in_fresh_process(measure_peer, [(day["trades"], day["quotes"]) for day in files])
    result = summarize(days, rows_per_day, files, market, floor_s, ours, peer,
                       dashboard_figures(run_dir / "out" / "dashboard.html"))
    write_result(result, Path(json_path or "reports/bench/pipeline.json"))
    print(markdown_table(result))
    return result


def bench_window(days: int) -> list[dt.date]:
    """The ``days`` NYSE sessions ending at :data:`BENCH_AS_OF`."""
    sessions = trading_days(BENCH_AS_OF - dt.timedelta(days=2 * days + 10), BENCH_AS_OF)
    return sessions[-days:]


def ensure_market(root: Path, window: list[dt.date], rows_per_day: int, seed: int) -> dict:
    """The window's Polygon-format files under ``root``, simulated when a session is missing (scale = rows / full
    OPRA day; a market simulated over a longer window ending later serves too). Returns ``simulate_s`` (None when
    reused) and ``trade_rows`` per session, kept in ``bench_market.json`` beside the files."""
    record_path = root / "bench_market.json"
    if all((root / flatfile_key("trades", day)).exists() for day in window):
        record = json.loads(record_path.read_text()) if record_path.exists() else {"trade_rows": {}}
        record["simulate_s"] = None
    else:
        from spy_gamma.sources.simulator import simulate_market

        shutil.rmtree(root, ignore_errors=True)
        summary = simulate_market(window[0], window[-1], root, seed=seed, scale=rows_per_day / FULL_OPRA_DAY_ROWS)
        record = {"simulate_s": summary.seconds,
                  "trade_rows": {day: rows["trades"] for day, rows in summary.rows.items()}}
    for day in window:
        if day.isoformat() not in record["trade_rows"]:
            record["trade_rows"][day.isoformat()] = _data_rows(root / flatfile_key("trades", day))
    record_path.write_text(json.dumps(record))
    return {"simulate_s": record["simulate_s"], "trade_rows": sum(record["trade_rows"][d.isoformat()] for d in window)}


def day_files(root: Path, window: list[dt.date]) -> list[dict[str, Path]]:
    """Each session's flat files by kind (those that exist)."""
    return [{kind: root / flatfile_key(kind, day) for kind in DAY_KINDS if (root / flatfile_key(kind, day)).exists()}
            for day in window]


def decompression_floor(paths: list[Path]) -> float:
    """Seconds for one pass of isal (the fastest gzip inflater installed) over the files, reading 32 MB at a time."""
    start = time.perf_counter()
    for path in paths:
        with igzip.open(path, "rb") as stream:
            while stream.read(FLOOR_READ_BYTES):
                pass
    return time.perf_counter() - start


def in_fresh_process(measure, *args) -> dict:
    """Run a measurement in a new interpreter (spawned), so imports, caches and peak RSS are its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(measure, *args).result()


def measure_ours(flatfiles: Path, run_dir: Path, window: list[dt.date]) -> dict:
    """``spy-gamma run`` on the window from cold (source: the simulated files on disk); wall, CPU, seconds per stage."""
    pipeline = _pipeline(flatfiles, run_dir, window)
    with TreeMemory() as memory:
        wall, cpu = time.perf_counter(), time.process_time()
        pipeline.run_full_analysis(window[-1], BENCH_EXPIRIES)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"end_to_end_s": wall, "cpu_s": cpu + children_cpu_s(), "peak_rss_mb": memory.peak_mb,
            "stages": stage_seconds(pipeline)}


def measure_morning(flatfiles: Path, run_dir: Path, window: list[dt.date]) -> dict:
    """The morning run: the earlier sessions in the lake, the last one new; one fresh process materializes that
    session and the as-of analysis. Timed from before the pipeline's imports, as a ``spy-gamma run`` pays them."""
    wall = time.perf_counter()
    from spy_gamma.lake import Lake
    from spy_gamma.pipeline import SESSION_TABLES

    lake = Lake(run_dir)
    for table in SESSION_TABLES:
        lake.path(table, window[-1]).unlink(missing_ok=True)
    pipeline = _pipeline(flatfiles, run_dir, window)
    pipeline.run_full_analysis(window[-1], BENCH_EXPIRIES)
    return {"morning_run_s": time.perf_counter() - wall, "morning_stages": stage_seconds(pipeline),
            "morning_runs": launched_runs(pipeline)}


def launched_runs(pipeline) -> list[dict]:
    """Each Dagster run of the pipeline's last analysis: its job and the partition keys it covered."""
    from spy_gamma.pipeline import RANGE_END, RANGE_START, dagster_instance

    instance = dagster_instance(pipeline.settings.data_dir)
    runs = [instance.get_run_by_id(run_id) for run_id in pipeline.run_ids]
    return [{"job": run.job_name, "partitions": sorted({run.tags.get(RANGE_START) or run.tags.get("dagster/partition"),
                                                        run.tags.get(RANGE_END) or run.tags.get("dagster/partition")})}
            for run in runs]


def _pipeline(flatfiles: Path, run_dir: Path, window: list[dt.date]):
    """The pipeline on the bench's files with a window of exactly the bench's sessions."""
    os.environ["SPY_GAMMA_WINDOW_SESSIONS"] = str(len(window))
    from spy_gamma.pipeline import SPYPositioningPipeline

    return SPYPositioningPipeline(output_dir=run_dir / "out", source="local", flatfiles_dir=flatfiles,
                                  data_dir=run_dir)


def stage_seconds(pipeline) -> dict[str, float]:
    """Seconds per stage summed over Dagster's step timings (asset groups, checks apart) plus each run's time outside
    its steps; sessions run side by side, so the total can exceed the wall time."""
    from spy_gamma.definitions import defs
    from spy_gamma.pipeline import dagster_instance

    graph = defs.resolve_asset_graph()
    group = {defs.resolve_assets_def(key).node_def.name: graph.get(key).group_name  # a step is an asset's op
             for key in graph.get_all_asset_keys()}
    instance = dagster_instance(pipeline.settings.data_dir)
    stages = dict.fromkeys(STAGES, 0.0)
    for run_id in pipeline.run_ids:
        steps = [(step.step_key, (step.end_time or step.start_time) - step.start_time)
                 for step in instance.get_run_step_stats(run_id)]
        for step_key, seconds in steps:
            stages[group.get(step_key, "checks")] += seconds
        run = instance.get_run_stats(run_id)
        stages["dagster_run_overhead"] += (run.end_time - run.start_time) - sum(seconds for _, seconds in steps)
    return stages


def measure_peer(days: list[tuple[Path, Path]]) -> dict:
    """The pandas peer over the same days: wall, CPU, peak RSS and the contracts it positioned."""
    from spy_gamma.bench.pandas_peer import peer_positions

    with TreeMemory() as memory:
        wall, cpu = time.perf_counter(), time.process_time()
        positions = peer_positions(days, [dt.date.fromisoformat(e) for e in BENCH_EXPIRIES])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"peer_s": wall, "cpu_s": cpu, "peak_rss_mb": memory.peak_mb, "contracts": len(positions)}


class TreeMemory:
    """Peak resident memory of this process and all its descendants together (the session workers included),
    sampled every ``interval_s`` from /proc on a daemon thread; Linux only."""

    def __init__(self, interval_s: float = 0.1):
        self.interval_s, self.peak_kib = interval_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_kib / 1024

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(pid) for pid in _process_tree(os.getpid())))


def _process_tree(root: int) -> list[int]:
    """``root`` and every live descendant, from each process's parent id in /proc/<pid>/stat."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, frontier = [root], [root]
    while frontier:
        frontier = [child for pid in frontier for child in parents.get(pid, [])]
        tree += frontier
    return tree


def _rss_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dashboard_figures(page: Path) -> dict:
    """Render time in headless Chromium and size of the dashboard; the reason instead when it cannot render."""
    from spy_gamma.report.browser import measure_dashboard

    try:
        measured = measure_dashboard(page)
    except Exception as error:  # noqa: BLE001 - no Chromium or Playwright here: the bench reports the rest
        return {"dashboard_render_ms": None, "dashboard_bytes": page.stat().st_size if page.exists() else None,
                "dashboard_error": f"{type(error).__name__}: {error}"}
    return {"dashboard_render_ms": measured["render_ms"], "dashboard_bytes": measured["bytes"]}


def summarize(days: int, rows_per_day: int, files: list[dict[str, Path]], market: dict, floor_s: float,
              ours: dict, peer: dict, dashboard: dict) -> dict:
    """The bench's JSON: the issue's fields first, then the detail behind them."""
    trade_rows = market["trade_rows"]
    stages = ours["stages"]
    return {
        "morning_run_s": ours["morning_run_s"],
        "floor_s": floor_s, "ingest_s": stages["ingest"], "end_to_end_s": ours["end_to_end_s"],
        "peer_s": peer["peer_s"], "ingest_over_floor": stages["ingest"] / floor_s,
        "peer_over_ours": peer["peer_s"] / ours["end_to_end_s"], "peak_rss_mb": ours["peak_rss_mb"],
        "rows_per_s": trade_rows / ours["end_to_end_s"],
        **dashboard,
        "days": days, "rows_per_day_target": rows_per_day, "trade_rows": trade_rows,
        "compressed_mb": sum(p.stat().st_size for day in files for p in day.values()) / 1e6,
        "stages_s": stages, "morning_stages_s": ours["morning_stages"], "morning_runs": ours["morning_runs"], "parallelism": sum(stages.values()) / ours["end_to_end_s"], "ours_cpu_s": ours["cpu_s"], "peer_cpu_s": peer["cpu_s"],
        "peer_peak_rss_mb": peer["peak_rss_mb"], "peer_contracts": peer["contracts"], "simulate_s": market["simulate_s"],
        "expiries": BENCH_EXPIRIES, "machine": machine(),
    }


def _data_rows(path: Path) -> int:
    """Data rows of a csv.gz (lines minus the header)."""
    lines = 0
    with igzip.open(path, "rb") as stream:
        while block := stream.read(FLOOR_READ_BYTES):
            lines += block.count(b"\n")
    return lines - 1


def machine() -> dict:
    """Where the figures were measured, including how busy the machine was (other jobs share its cores)."""
    return {"cpus": os.cpu_count(), "processor": _cpu_model(), "python": platform.python_version(),
            "platform": platform.platform(), "load_avg_1_5_15": list(os.getloadavg())}


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
              if line.startswith("model name")] if cpuinfo.exists() else []
    return models[0] if models else platform.processor() or platform.machine()


def write_result(result: dict, json_path: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2, default=str))
    json_path.with_suffix(".md").write_text(markdown_table(result))


def markdown_table(result: dict) -> str:
    """The bench as a Markdown table: headline figures, then seconds per stage of ours."""
    render = result.get("dashboard_render_ms")
    rows = [
        ("days x trade rows", f"{result['days']} x {result['trade_rows'] / result['days']:,.0f}"),
        ("floor: isal gunzip of the day files", f"{result['floor_s']:.1f} s"),
        ("ours: ingest (Dagster steps)", f"{result['ingest_s']:.1f} s ({result['ingest_over_floor']:.2f}x floor)"),
        ("ours: morning run (one new session + as-of, fresh process)", f"{result['morning_run_s']:.1f} s"),
        ("ours: end to end", f"{result['end_to_end_s']:.1f} s ({result['ours_cpu_s']:.0f} CPU s)"),
        ("peer: pandas", f"{result['peer_s']:.1f} s ({result['peer_cpu_s']:.0f} CPU s)"),
        ("peer / ours", f"{result['peer_over_ours']:.2f}x"),
        ("peak RSS ours / peer", f"{result['peak_rss_mb']:,.0f} / {result['peer_peak_rss_mb']:,.0f} MB"),
        ("trade rows per second (end to end)", f"{result['rows_per_s']:,.0f}"),
        ("dashboard render (headless Chromium)", "n/a" if render is None else f"{render:,.0f} ms"),
        ("dashboard size", f"{(result['dashboard_bytes'] or 0) / 1e6:.1f} MB"),
    ]
    rows += [(f"stage: {stage} (summed over sessions)", f"{seconds:.1f} s") for stage, seconds in result["stages_s"].items()]
    rows.append(("stage seconds / wall (sessions side by side)", f"{result['parallelism']:.2f}"))
    load = ", ".join(f"{x:.1f}" for x in result["machine"]["load_avg_1_5_15"])
    lines = ["| measure | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
    return "\n".join(lines) + f"\n\n{result['machine']['cpus']} CPUs ({result['machine']['processor']}), " \
                               f"load average {load} at the end of the run.\n"
