"""The one input of the presentation layer: every table and figure the reports show, already computed."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# Column orders of the CSV contract (ARCHITECTURE §5); extra columns follow these.
EXPOSURE_CSV_COLUMNS = (
    "expiry",
    "strike",
    "call_gex",
    "put_gex",
    "net_gex",
    "dex",
    "vex",
    "cex",
    "iv_call",
    "iv_put",
)
POSITION_CSV_COLUMNS = (
    "ticker",
    "expiry",
    "strike",
    "right",
    "dealer_position",
    "customer_buy_open",
    "customer_sell_open",
    "customer_buy_close",
    "customer_sell_close",
    "open_interest",
)
PROFILE_CSV_COLUMNS = ("spot", "total_gex")
SUMMARY_KEYS = (
    "analysis_date",
    "as_of",
    "spot",
    "expiries",
    "total_gex",
    "gamma_flip",
    "call_wall",
    "put_wall",
    "abs_gamma_strike",
    "gamma_centroid",
    "max_pain",
    "regime",
    "levels",
    "patterns",
    "hedging_flows",
    "data_quality",
    "methodology",
)


@dataclass(frozen=True)
class ReportBundle:
    """Dealer positioning as of one close, in the units of ARCHITECTURE §4 (dealer perspective, $)."""

    summary: dict  # becomes analysis_summary.json (keys: SUMMARY_KEYS)
    exposures_by_strike: pl.DataFrame  # one row per expiry x strike: EXPOSURE_CSV_COLUMNS + call_position,
    # put_position, vomma_ex, speed_ex
    gamma_profile: pl.DataFrame  # spot, total_gex (+ gex_<expiry>, the band's total_gex_p05/p50/p95) over a spot grid
    gex_surface: pl.DataFrame  # date, strike, net_gex: dealer GEX as of each close of the window
    smile: pl.DataFrame  # target expiries: expiry, strike, right, iv_market, iv_fit, rejected
    naive_gex: pl.DataFrame  # strike, flow_gex, naive_oi_gex
    intraday_flow: pl.DataFrame  # sip_timestamp (ns UTC), cum_dealer_delta_usd, cum_dealer_gamma_usd
    positions: pl.DataFrame  # POSITION_CSV_COLUMNS
    contract_greeks: pl.DataFrame  # ticker, expiry, strike, right, iv, delta..color, gex, dex, vex, cex
    strike_flow: pl.DataFrame  # target expiries: date, expiry, strike, right, net_dealer_flow, customer_buy,
    # customer_sell (contracts traded that day)
    levels_history: pl.DataFrame  # one row per as-of close of the window: as_of, spot, total_gex (+ band), flip,
    # walls, abs gamma strikes, front max pain, regime
