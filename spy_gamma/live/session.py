"""A live session: the feed's events in, a re-priced book, intraday flow, levels and alerts out to the lake each
step, and a reconciliation with the batch book at the close.

Lake tables (keyed by the session ``date``, rewritten atomically each step, so DuckDB sees them while live):
``live_levels`` (one row per step), ``live_flow`` (cumulative dealer flow per step and group), ``live_alerts``,
``live_gaps``, ``live_positions`` / ``live_exposures_by_strike`` / ``live_gamma_profile`` (the latest step), and
``live_reconciliation`` (per contract, at the close).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from spy_gamma.lake import Lake
from spy_gamma.live.alerts import AlertRules, alerts_between, post_alerts
from spy_gamma.live.book import day_flows, levels_row, live_exposures, live_positions, settled_at_close, window_model
from spy_gamma.live.messages import bars_frame, quotes_frame, trades_frame
from spy_gamma.live.morning import Morning
from spy_gamma.live.quotes import QuoteRotation
from spy_gamma.live.tape import DEFAULT_LATENESS_NS, MINUTE_NS, SessionTape
from spy_gamma.quant.contracts import with_contract_fields
from spy_gamma.quant.expiry_time import NEW_YORK, tte_years_expr
from spy_gamma.quant.intraday import intraday_dealer_flow
from spy_gamma.quant.signing import in_units_of
from spy_gamma.quant.spot import regular_session_bars
from spy_gamma.settings import DEFAULT_DIVIDEND_YIELD, DEFAULT_RATE
from spy_gamma.trading_calendar import session_close_ns, session_open_ns

RECONCILE_TOLERANCE = 0.05  # contracts: the stored signing fit is rounded to 4 decimals


def _locked(method):
    """Run the method under the session's lock: the feeds deliver from worker threads."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return locked


@dataclass(frozen=True)
class LiveSettings:
    """How a session steps and prices: step and lateness in event-time ns, market constants, alerts."""

    step_ns: int = MINUTE_NS
    lateness_ns: int = DEFAULT_LATENESS_NS
    rate: float = DEFAULT_RATE
    dividend_yield: float = DEFAULT_DIVIDEND_YIELD
    rules: AlertRules = field(default_factory=AlertRules)
    webhook: str | None = None


class LiveSession:
    """State of one live session; ``on_events`` takes each feed message, ``finish`` closes the day."""

    def __init__(self, lake: Lake, morning: Morning, settings: LiveSettings | None = None):
        self.lake, self.morning = lake, morning
        self.settings = settings or LiveSettings()
        self.day = morning.day
        self.tape = SessionTape(self.day, self.settings.lateness_ns, self.settings.step_ns)
        self.quotes = QuoteRotation(morning)
        self.bars = pl.DataFrame()
        self.levels: list[dict] = []
        self.flow: list[dict] = []
        self.alerts: list[dict] = []
        self.gaps: list[dict] = []
        self.positions = live_positions(morning, day_flows(None, morning.day))
        self.arrivals: dict[int, float] = {}  # step end -> wall time its last print arrived (latency)
        self.latencies_s: list[float] = []
        self._flow_backlog: list[pl.DataFrame] = []
        self._flows = day_flows(None, self.day)
        self._lock = threading.RLock()
        self._totals: dict[str, tuple[float, float]] = {}
        self.events_received = 0
        self.closed = False

    # --- input ---------------------------------------------------------------------------------------------
    @_locked
    def on_events(self, events: list[dict]) -> None:
        """One feed message (a list of events): trades and quotes to the tape, minute bars to the spot; then
        every step now complete is priced."""
        self.events_received += len(events)
        trades = [e for e in events if e.get("ev") == "T"]
        quotes = [e for e in events if e.get("ev") == "Q"]
        bars = [e for e in events if e.get("ev") in ("A", "AM") and e.get("sym") == "SPY"]
        if trades or quotes:
            frame = trades_frame(trades).filter(pl.col("expiry").is_in(self.morning.expiries))
            self.tape.add(frame, quotes_frame(quotes))
            now = time.monotonic()
            for step in (frame["sip_timestamp"] // self.settings.step_ns).unique().to_list():
                self.arrivals.setdefault(step, now)  # the step's first print: its latency is the step's longest
        if bars:
            received = bars_frame(bars)
            self.bars = (pl.concat([self.bars, received]) if self.bars.height else received).unique(
                "window_start", keep="last").sort("window_start")
        for end in self.tape.closable_steps():
            self.step(end)
        if bars and int(self.bars["window_start"].max()) >= session_close_ns(self.day):
            self.finish()

    @_locked
    def record_gap(self, last_event_ns: int | None, first_event_ns: int | None, reason: str,
                   seconds_down: float) -> None:
        """A stretch the feed did not deliver (a disconnect): kept as is, never filled in."""
        self.gaps.append({"from_ns": last_event_ns, "to_ns": first_event_ns, "reason": reason,
                          "seconds_down": seconds_down})
        self.lake.write("live_gaps", self.day, pl.DataFrame(self.gaps, schema={
            "from_ns": pl.Int64, "to_ns": pl.Int64, "reason": pl.String, "seconds_down": pl.Float64}))

    def channels(self, universe: list[str]) -> list[str]:
        """Trades of every contract of ``universe``, quotes of the quoted set, SPY minute aggregates."""
        if not self.quotes.quoted:
            self.quotes.initial(universe, self.spot(), session_open_ns(self.day))
        return [*(f"T.{t}" for t in universe), *(f"Q.{t}" for t in sorted(self.quotes.quoted)), "AM.SPY"]

    def quote_changes(self) -> tuple[list[str], list[str]]:
        """(tickers to start quoting, tickers to stop quoting) after a spot move."""
        return self.quotes.changes(self.spot(), self.tape.closed_ns or session_open_ns(self.day))

    # --- a step --------------------------------------------------------------------------------------------
    def step(self, end_ns: int) -> None:
        """Close the prints stamped before ``end_ns``, re-sign the day, re-price the book, write the snapshot."""
        s = self.settings
        features = self.tape.close_through(end_ns)
        touched = features["ticker"].unique().to_list() if features.height else []
        model = window_model(self.morning, self.tape.groups, touched) if touched else None
        self._flows = _updated(self._flows, day_flows(model, self.day))
        self.positions = live_positions(self.morning, self._flows)
        spot = self.spot()
        exposures = live_exposures(self.morning, self.positions, spot, end_ns, s.rate, s.dividend_yield)
        row, by_strike, profile = levels_row(exposures, spot, s.rate, s.dividend_yield, seed=end_ns // MINUTE_NS)
        if model is not None and features.height:
            self._flow_backlog.append(model.sign(features))
        self._add_flow(end_ns)
        row = {"step_end_ns": end_ns, "time_et": _et(end_ns), **row, "prints": sum(f.height for f in self.tape.prints),
               "duplicates": self.tape.duplicates, "late_prints": self.tape.late_prints, "gaps": len(self.gaps),
               "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        raised = [{"step_end_ns": end_ns, "time_et": row["time_et"], **a}
                  for a in alerts_between(self.levels[-1] if self.levels else None, row, s.rules)]
        self.levels.append(row)
        self._write(by_strike, profile, raised)
        arrived = self.arrivals.pop((end_ns - 1) // s.step_ns, None)
        if arrived is not None:
            self.latencies_s.append(time.monotonic() - arrived)
        if raised and s.webhook:
            post_alerts(s.webhook, raised)

    def spot(self) -> float:
        """SPY now: the close of the last completed regular-session minute bar, the previous close before one."""
        regular = regular_session_bars(self.bars, self.day) if self.bars.height else self.bars
        return float(regular["close"][-1]) if regular.height else self.morning.close_spot

    def _add_flow(self, end_ns: int) -> None:
        """Cumulative dealer $ delta and $ gamma of the signed prints (``intraday_dealer_flow``): all, by expiry,
        calls, puts and 0DTE. Prints wait for the session's first minute bar (their spot) before they count."""
        s = self.settings
        if not self._flow_backlog or not self.bars.height or not regular_session_bars(self.bars, self.day).height:
            return
        signed = pl.concat(self._flow_backlog, how="diagonal_relaxed").with_columns(
            tte_years_expr(pl.col("sip_timestamp"), pl.col("expiry")).alias("tte_years"))
        self._flow_backlog = []
        groups = {"all": pl.lit(True), "calls": pl.col("right") == "C", "puts": pl.col("right") == "P",
                  "0dte": pl.col("expiry") == self.day,
                  **{f"expiry {e}": pl.col("expiry") == e for e in self.morning.expiries}}
        for name, selection in groups.items():
            part = signed.filter(selection)
            delta, gamma = self._totals.get(name, (0.0, 0.0))
            if part.height:
                cum = intraday_dealer_flow(part, self.bars, self.morning.chain, self.day, s.rate, s.dividend_yield)
                if cum.height:
                    delta += float(cum["cum_dealer_delta_usd"][-1])
                    gamma += float(cum["cum_dealer_gamma_usd"][-1])
            self._totals[name] = (delta, gamma)
            self.flow.append({"step_end_ns": end_ns, "time_et": _et(end_ns), "group": name,
                              "cum_dealer_delta_usd": delta, "cum_dealer_gamma_usd": gamma})

    def _write(self, by_strike: pl.DataFrame, profile: pl.DataFrame, raised: list[dict]) -> None:
        lake, day = self.lake, self.day
        lake.write("live_levels", day, pl.DataFrame(self.levels, infer_schema_length=None))
        if self.flow:
            lake.write("live_flow", day, pl.DataFrame(self.flow))
        if raised or not lake.exists("live_alerts", day):
            self.alerts.extend(raised)
            lake.write("live_alerts", day, pl.DataFrame(self.alerts, schema={
                "step_end_ns": pl.Int64, "time_et": pl.String, "kind": pl.String, "message": pl.String,
                "spot": pl.Float64}))
        lake.write("live_positions", day, self.positions)
        lake.write("live_exposures_by_strike", day, by_strike)
        lake.write("live_gamma_profile", day, profile)

    # --- the close -----------------------------------------------------------------------------------------
    @_locked
    def finish(self) -> dict:
        """Close every remaining print, write the last snapshot and reconcile with the batch book of the day."""
        if self.closed:
            return self.reconciliation
        end = max(session_close_ns(self.day), (self.tape.latest_ns or 0) + 1)
        remaining = self.tape.closable_steps(through_ns=end + self.settings.step_ns - 1)
        if remaining:  # nothing arrives after the last event: one re-pricing covers the rest of the day
            self.step(remaining[-1])
        self.closed = True
        traded = set(self.tape.all_prints()["ticker"].to_list()) if self.tape.prints else set()
        partly_quoted = traded - self.quotes.quoted_all_day()
        self.reconciliation = reconcile(
            self.lake, self.day, settled_at_close(self.positions, self.day), partly_quoted,
            _units_seen_in_part(self.lake, self.day, self.morning.expiries, partly_quoted, self.morning.fit.direction_unit))
        return self.reconciliation


def _updated(flows: pl.DataFrame, fresh: pl.DataFrame) -> pl.DataFrame:
    """Contract flows with the re-signed contracts' rows replaced (a contract's signing depends on its own
    evidence only once the fit is fixed, so untouched contracts keep their flow exactly)."""
    return pl.concat([flows.filter(~pl.col("ticker").is_in(fresh["ticker"].to_list())), fresh])


def _units_seen_in_part(lake: Lake, day: dt.date, expiries: list[dt.date], partly_quoted: set[str],
                        unit: str) -> set[str]:
    """Contracts whose direction unit (a strike across expiries) printed today in expiries the session does not
    follow, or in contracts it quoted only in part: the batch read their direction with prints the feed does not
    carry, or paired otherwise. (A gap is not a reason to excuse a contract: its dropped prints show as
    differences in ``live_reconciliation``, and in ``differing`` where the contract is compared.)"""
    groups = lake.read_if_present("vote_groups", day)
    if groups is None:
        return set()
    unseen = with_contract_fields(groups).filter(~pl.col("expiry").is_in(expiries)
                                                 | pl.col("ticker").is_in(sorted(partly_quoted)))
    return set(in_units_of(groups, unseen, unit)["ticker"].to_list())


def reconcile(lake: Lake, day: dt.date, live_book: pl.DataFrame, partly_quoted: set[str],
              unit_partly_seen: set[str]) -> dict:
    """Live book at the close vs the batch run's ``dealer_positions`` for ``day`` (its target expiries), per
    contract into ``live_reconciliation``; the summary says how many contracts differ and by how much.

    Compared print for print: every contract except those the batch clipped to the OI published overnight (the
    live session cannot know it), ``partly_quoted``, contracts traded today but quoted only part of the day or
    not at all (the 1,000-contract quote limit): their prints met no quote, or not the batch's, and
    ``unit_partly_seen`` (:func:`_units_seen_in_part`)."""
    batch = lake.read_if_present("dealer_positions", day)
    if batch is None:
        return {"batch_available": False, "contracts": live_book.height}
    batch = batch.filter(pl.col("expiry").is_in(live_book["expiry"].unique().to_list()))
    joined = (live_book.select("ticker", pl.col("dealer_position").alias("live_position"))
              .join(batch.select("ticker", pl.col("dealer_position").alias("batch_position"),
                                 "clipped_to_open_interest"), on="ticker", how="full", coalesce=True)
              .with_columns(pl.col("live_position", "batch_position").fill_null(0.0),
                            pl.col("clipped_to_open_interest").fill_null(False),
                            pl.col("ticker").is_in(sorted(partly_quoted)).alias("partly_quoted"),
                            pl.col("ticker").is_in(sorted(unit_partly_seen)).alias("unit_partly_seen"))
              .with_columns((pl.col("live_position") - pl.col("batch_position")).alias("difference")))
    lake.write("live_reconciliation", day, joined)
    compared = joined.filter(~pl.col("clipped_to_open_interest") & ~pl.col("partly_quoted") & ~pl.col("unit_partly_seen"))
    differences = compared["difference"].abs().to_numpy()
    return {"batch_available": True, "contracts": joined.height, "compared": compared.height,
            "clipped_in_batch": int(joined["clipped_to_open_interest"].sum()),
            "traded_partly_quoted": int(joined["partly_quoted"].sum()),
            "unit_partly_seen": int((joined["unit_partly_seen"] & ~joined["partly_quoted"]).sum()),
            "max_abs_difference": float(differences.max()) if differences.size else 0.0,
            "sum_abs_difference": float(differences.sum()),
            "differing": int((differences > RECONCILE_TOLERANCE).sum()),
            "gross_batch_position": float(np.abs(joined["batch_position"].to_numpy()).sum())}


def _et(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, NEW_YORK).strftime("%H:%M:%S")
