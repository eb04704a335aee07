"""A realistic, seeded ReportBundle for the presentation tests: SPY ~669, strikes 600-740, three weeklies.

Shape of the book (a typical autumn-2025 SPY picture): customers buy downside puts (dealers short puts,
negative GEX below spot) and overwrite upside calls (dealers long calls, positive GEX above spot).
Exposures follow ARCHITECTURE §4 and are computed with the project's own BSM Greeks.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from spy_gamma.quant.contracts import MULTIPLIER, occ_ticker
from spy_gamma.quant.greeks import bsm_greeks
from spy_gamma.report.bundle import POSITION_CSV_COLUMNS, ReportBundle

SPOT = 669.21
RATE, DIV_YIELD = 0.04, 0.012
AS_OF = dt.date(2025, 10, 3)  # Friday close the positions are as of
ANALYSIS_DATE = dt.date(2025, 10, 5)  # a Sunday: positions carry over from the last close
EXPIRIES = (dt.date(2025, 10, 6), dt.date(2025, 10, 8), dt.date(2025, 10, 10))
STRIKES = np.arange(600.0, 741.0, 1.0)
ATM_VOL = {EXPIRIES[0]: 0.128, EXPIRIES[1]: 0.134, EXPIRIES[2]: 0.141}
SURFACE_DAYS = 30
FLOW_DAYS = 10
SPOT_MOVES_PCT = (-2.0, -1.0, -0.5, 0.5, 1.0, 2.0)


def trading_days(end: dt.date, count: int) -> list[dt.date]:
    """The last ``count`` weekdays up to ``end`` (holidays ignored: fine for test data)."""
    days, day = [], end
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= dt.timedelta(days=1)
    return days[::-1]


def smile_vol(expiry: dt.date, strike: np.ndarray) -> np.ndarray:
    """Skewed quadratic smile in log-moneyness: puts richer than calls, as on SPY."""
    k = np.log(strike / SPOT)
    return ATM_VOL[expiry] - 0.85 * k + 4.0 * k * k


def tte_years(expiry: dt.date) -> float:
    """Close-to-close calendar time to the 16:00 ET expiry, ACT/365."""
    return (expiry - AS_OF).days / 365.0


def _contracts() -> pl.DataFrame:
    """Every expiry x strike x right of the chain, with its market vol."""
    rows = [(e, k, r) for e in EXPIRIES for k in STRIKES for r in ("C", "P")]
    frame = pl.DataFrame(
        rows, schema={"expiry": pl.Date, "strike": pl.Float64, "right": pl.String}, orient="row"
    )
    return frame.with_columns(
        pl.struct("expiry", "right", "strike")
        .map_elements(lambda c: occ_ticker(c["expiry"], c["right"], c["strike"]), return_dtype=pl.String)
        .alias("ticker"),
        pl.Series("iv", np.concatenate([np.repeat(smile_vol(e, STRIKES), 2) for e in EXPIRIES])),
        pl.Series("tte_years", np.repeat([tte_years(e) for e in EXPIRIES], 2 * len(STRIKES))),
    )


def _dealer_positions(contracts: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Open interest peaking at the money and on round strikes; dealers long upside calls, short puts."""
    strike = contracts["strike"].to_numpy()
    is_call = (contracts["right"] == "C").to_numpy()
    near = (contracts["expiry"] == EXPIRIES[0]).to_numpy()
    roundness = 1.0 + 1.6 * (strike % 5 == 0) + 1.2 * (strike % 10 == 0)
    width = np.where(near, 14.0, 22.0)
    otm_tilt = np.where(is_call, np.where(strike > SPOT, 1.25, 0.6), np.where(strike < SPOT, 1.45, 0.55))
    oi = rng.poisson(9000.0 * roundness * otm_tilt * np.exp(-0.5 * ((strike - SPOT) / width) ** 2) + 40.0)
    upside = strike > SPOT - 7.0  # the overwriting crowd sells calls from just below spot
    dealer_share = np.where(is_call, np.where(upside, 0.45, -0.10), np.where(upside, 0.12, -0.42))
    dealer_share = dealer_share + rng.normal(0.0, 0.12, len(strike))
    dealer_position = np.round(dealer_share * oi).astype(np.int64)
    return contracts.with_columns(
        pl.Series("open_interest", oi.astype(np.int64)), pl.Series("dealer_position", dealer_position)
    )


def _customer_flows(positions: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """BTO/STO/BTC/STC totals whose dealer-side sum is the dealer position: STO + STC - BTO - BTC."""
    dealer_position = positions["dealer_position"].to_numpy()
    scale = positions["open_interest"].to_numpy() * 0.25 + 5
    buy_open, buy_close, sell_close = (rng.poisson(scale * f) for f in (0.5, 0.2, 0.25))
    sell_open = dealer_position + buy_open + buy_close - sell_close
    buy_open = buy_open + np.clip(-sell_open, 0, None)
    sell_open = np.clip(sell_open, 0, None)
    return positions.with_columns(
        pl.Series("customer_buy_open", buy_open.astype(np.int64)),
        pl.Series("customer_sell_open", sell_open.astype(np.int64)),
        pl.Series("customer_buy_close", buy_close.astype(np.int64)),
        pl.Series("customer_sell_close", sell_close.astype(np.int64)),
    )


def _greeks(book: pl.DataFrame, spot: float, vol_shift: float = 0.0, time_passed_years: float = 0.0) -> dict:
    """BSM Greeks of every contract of the book at a shocked spot, vol or clock."""
    return bsm_greeks(
        spot,
        book["strike"].to_numpy(),
        np.maximum(book["tte_years"].to_numpy() - time_passed_years, 1.0 / (365 * 24 * 60)),
        RATE,
        DIV_YIELD,
        book["iv"].to_numpy() + vol_shift,
        (book["right"] == "C").to_numpy(),
    )


def _contract_greeks(book: pl.DataFrame) -> pl.DataFrame:
    """Per-contract Greeks and dealer dollar exposures (ARCHITECTURE §4 formulas)."""
    g = _greeks(book, SPOT)
    units = book["dealer_position"].to_numpy() * MULTIPLIER
    exposures = {
        "gex": units * g["gamma"] * SPOT**2 * 0.01,
        "dex": units * g["delta"] * SPOT,
        "vex": units * g["vanna"] * SPOT * 0.01,
        "cex": units * g["charm"] * SPOT / 365.0,
        "vomma_ex": units * g["vomma"] * 0.01 * 0.01,  # $ dealer vega change per vol point, per vol point
        "speed_ex": units * g["speed"] * SPOT**2 * 0.01 * SPOT * 0.01,  # dealer GEX change per 1% spot move
    }
    greek_cols = [
        pl.Series(name, g[name])
        for name in ("delta", "gamma", "vega", "theta", "vanna", "charm", "vomma", "speed", "zomma", "color")
    ]
    return book.select("ticker", "expiry", "strike", "right", "iv").with_columns(
        *greek_cols, *(pl.Series(name, values) for name, values in exposures.items())
    )


def _exposures_by_strike(greeks: pl.DataFrame, positions: pl.DataFrame) -> pl.DataFrame:
    """Sum contract exposures per expiry and strike, calls and puts side by side."""
    joined = greeks.join(positions.select("ticker", "dealer_position"), on="ticker")
    call, put = pl.col("right") == "C", pl.col("right") == "P"
    return (
        joined.group_by("expiry", "strike")
        .agg(
            pl.col("gex").filter(call).sum().alias("call_gex"),
            pl.col("gex").filter(put).sum().alias("put_gex"),
            pl.col("gex").sum().alias("net_gex"),
            pl.col("dex").sum(),
            pl.col("vex").sum(),
            pl.col("cex").sum(),
            pl.col("iv").filter(call).first().alias("iv_call"),
            pl.col("iv").filter(put).first().alias("iv_put"),
            pl.col("dealer_position").filter(call).sum().alias("call_position"),
            pl.col("dealer_position").filter(put).sum().alias("put_position"),
            pl.col("vomma_ex").sum(),
            pl.col("speed_ex").sum(),
        )
        .sort("expiry", "strike")
    )


def _gamma_profile(book: pl.DataFrame) -> pl.DataFrame:
    """Total dealer GEX re-priced over a +-10% spot grid (vols, time fixed), plus one column per expiry."""
    grid = np.round(np.linspace(SPOT * 0.9, SPOT * 1.1, 161), 2)
    units = book["dealer_position"].to_numpy() * MULTIPLIER
    by_expiry = {e: (book["expiry"] == e).to_numpy() for e in EXPIRIES}
    columns: dict[str, list[float]] = {"spot": list(grid), "total_gex": []} | {
        f"gex_{e}": [] for e in EXPIRIES
    }
    for spot in grid:
        gex = units * _greeks(book, spot)["gamma"] * spot**2 * 0.01
        columns["total_gex"].append(float(gex.sum()))
        for expiry, mask in by_expiry.items():
            columns[f"gex_{expiry}"].append(float(gex[mask].sum()))
    return pl.DataFrame(columns)


def _zero_crossing_nearest(profile: pl.DataFrame, spot: float) -> float:
    """Linear interpolation of the profile's zero crossing nearest to spot (the gamma flip)."""
    s, g = profile["spot"].to_numpy(), profile["total_gex"].to_numpy()
    idx = np.nonzero(np.sign(g[:-1]) != np.sign(g[1:]))[0]
    crossings = s[idx] - g[idx] * (s[idx + 1] - s[idx]) / (g[idx + 1] - g[idx])
    return float(crossings[np.argmin(np.abs(crossings - spot))]) if len(crossings) else float("nan")


def _max_pain(positions: pl.DataFrame, expiry: dt.date) -> float:
    """Settlement strike minimizing the intrinsic value owed on the expiry's open contracts."""
    chain = positions.filter(pl.col("expiry") == expiry)
    k, oi, call = (
        chain["strike"].to_numpy(),
        chain["open_interest"].to_numpy(),
        (chain["right"] == "C").to_numpy(),
    )
    owed = [np.sum(oi * np.where(call, np.maximum(p - k, 0), np.maximum(k - p, 0))) for p in STRIKES]
    return float(STRIKES[int(np.argmin(owed))])


def _hedging_flows(book: pl.DataFrame) -> dict[str, float]:
    """Dollars dealers must trade to stay delta-neutral after each shock (+ = dealers buy)."""
    units = book["dealer_position"].to_numpy() * MULTIPLIER
    base = np.sum(units * _greeks(book, SPOT)["delta"])

    def hedge_usd(spot: float, **shock) -> float:
        return float(-(np.sum(units * _greeks(book, spot, **shock)["delta"]) - base) * spot)

    flows = {f"spot_{m:+g}pct": hedge_usd(SPOT * (1 + m / 100)) for m in SPOT_MOVES_PCT}
    flows |= {
        "vol_+1pt": hedge_usd(SPOT, vol_shift=0.01),
        "vol_-1pt": hedge_usd(SPOT, vol_shift=-0.01),
        "one_day_decay": hedge_usd(SPOT, time_passed_years=1 / 365),
    }
    return flows


def _strike_flow(positions: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Split each contract's customer buys and sells over the last FLOW_DAYS sessions (sums are exact)."""
    days = trading_days(AS_OF, FLOW_DAYS)
    weights = np.linspace(0.5, 1.5, FLOW_DAYS)
    weights /= weights.sum()
    buys = (positions["customer_buy_open"] + positions["customer_buy_close"]).to_numpy()
    sells = (positions["customer_sell_open"] + positions["customer_sell_close"]).to_numpy()
    buy_days = np.array([rng.multinomial(n, weights) for n in buys])
    sell_days = np.array([rng.multinomial(n, weights) for n in sells])
    n = len(positions)
    frame = pl.DataFrame(
        {
            "date": np.tile(np.array(days, dtype="datetime64[D]"), n),
            "expiry": np.repeat(positions["expiry"].to_numpy(), FLOW_DAYS),
            "strike": np.repeat(positions["strike"].to_numpy(), FLOW_DAYS),
            "right": np.repeat(positions["right"].to_numpy(), FLOW_DAYS),
            "customer_buy": buy_days.ravel(),
            "customer_sell": sell_days.ravel(),
        }
    )
    return (
        frame.with_columns(
            (pl.col("customer_sell") - pl.col("customer_buy")).alias("net_dealer_flow"),
            pl.col("date").cast(pl.Date),
        )
        .filter((pl.col("customer_buy") + pl.col("customer_sell")) > 0)
        .select("date", "expiry", "strike", "right", "net_dealer_flow", "customer_buy", "customer_sell")
    )


def _gex_surface(exposures: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Net dealer GEX per strike at each close of the window: the book building up towards today's."""
    final = exposures.group_by("strike").agg(pl.col("net_gex").sum()).sort("strike")
    strikes, today = final["strike"].to_numpy(), final["net_gex"].to_numpy()
    days = trading_days(AS_OF, SURFACE_DAYS)
    rows = []
    for i, day in enumerate(days):
        build = 0.25 + 0.75 * i / (SURFACE_DAYS - 1)
        noise = rng.normal(0.0, 0.06, len(strikes)) * np.abs(today).max() * (1 - build)
        rows.append(
            pl.DataFrame({"date": [day] * len(strikes), "strike": strikes, "net_gex": today * build + noise})
        )
    return pl.concat(rows)


def _smile(contracts: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Out-of-the-money market vols around the fitted smile; a few outliers rejected by the fit."""
    otm = contracts.filter(
        ((pl.col("right") == "C") & (pl.col("strike") >= SPOT))
        | ((pl.col("right") == "P") & (pl.col("strike") < SPOT))
    )
    n = len(otm)
    rejected = rng.random(n) < 0.03
    noise = rng.normal(0.0, 0.003, n) + rejected * rng.choice([-1.0, 1.0], n) * rng.uniform(0.02, 0.05, n)
    return (
        otm.select("expiry", "strike", "right", pl.col("iv").alias("iv_fit"))
        .with_columns(
            (pl.col("iv_fit") + pl.Series(noise)).alias("iv_market"), pl.Series("rejected", rejected)
        )
        .select("expiry", "strike", "right", "iv_market", "iv_fit", "rejected")
    )


def _naive_gex(book: pl.DataFrame, greeks: pl.DataFrame) -> pl.DataFrame:
    """Trade-signed dealer GEX vs the 'dealers long calls, short puts' open-interest convention."""
    sign = np.where((book["right"] == "C").to_numpy(), 1.0, -1.0)
    naive = sign * book["open_interest"].to_numpy() * MULTIPLIER * greeks["gamma"].to_numpy() * SPOT**2 * 0.01
    return (
        greeks.select("strike", pl.col("gex").alias("flow_gex"))
        .with_columns(pl.Series("naive_oi_gex", naive))
        .group_by("strike")
        .agg(pl.all().sum())
        .sort("strike")
    )


def _intraday_flow(rng: np.random.Generator, prints: int) -> pl.DataFrame:
    """Cumulative dealer delta/gamma bought through the latest session, one point per print batch."""
    open_ns = int(dt.datetime(2025, 10, 3, 13, 30, tzinfo=dt.UTC).timestamp() * 1e9)
    stamps = np.sort(rng.integers(open_ns, open_ns + int(6.5 * 3600e9), prints))
    drift = np.linspace(0.0, 1.0, len(stamps))
    delta = np.cumsum(rng.normal(0.0, 2.5e6, len(stamps))) - 3.0e8 * drift**2
    gamma = np.cumsum(rng.normal(0.0, 4.0e5, len(stamps))) + 9.0e7 * drift
    return pl.DataFrame(
        {"sip_timestamp": stamps, "cum_dealer_delta_usd": delta, "cum_dealer_gamma_usd": gamma}
    )


def _wall(exposures: pl.DataFrame, column: str) -> dict:
    """Strike with the largest |dealer GEX| in a column, summed over expiries, reported with its sign."""
    by_strike = exposures.group_by("strike").agg(pl.col(column).sum()).sort("strike")
    row = by_strike.row(int(by_strike[column].abs().arg_max()), named=True)
    return {"strike": row["strike"], "gex": row[column]}


def _levels(call_wall: dict, put_wall: dict, flip: float, max_pain: dict) -> dict:
    """Support and resistance levels a trader watches, each with its definition."""
    support = [
        {
            "strike": put_wall["strike"],
            "kind": "put_wall",
            "strength": 0.9,
            "note": "largest |dealer put GEX|; dealers short gamma here, a break can accelerate",
        },
        {
            "strike": round(flip, 2),
            "kind": "gamma_flip",
            "strength": 0.7,
            "note": "below this spot dealers flip to short gamma: moves amplify",
        },
    ]
    resistance = [
        {
            "strike": call_wall["strike"],
            "kind": "call_wall",
            "strength": 0.85,
            "note": "largest |dealer call GEX|; dealers long gamma, selling into rallies",
        },
        {
            "strike": max_pain[EXPIRIES[0].isoformat()],
            "kind": "max_pain",
            "strength": 0.4,
            "note": f"max pain of the {EXPIRIES[0]} expiry: settlement minimizing intrinsic owed",
        },
    ]
    return {"support": support, "resistance": resistance}


def _summary(exposures, profile, positions, book, flip_window_days: int) -> dict:
    """The analysis_summary.json of the sample: levels, regime, flows and data quality."""
    flip = _zero_crossing_nearest(profile, SPOT)
    call_wall, put_wall = _wall(exposures, "call_gex"), _wall(exposures, "put_gex")
    net = exposures.group_by("strike").agg(pl.col("net_gex").sum()).sort("strike")
    abs_gamma = net.row(int(net["net_gex"].abs().arg_max()), named=True)["strike"]
    centroid = float((net["strike"] * net["net_gex"].abs()).sum() / net["net_gex"].abs().sum())
    max_pain = {e.isoformat(): _max_pain(positions, e) for e in EXPIRIES}
    s, g = profile["spot"].to_numpy(), profile["total_gex"].to_numpy()
    gex_at_spot = float(np.interp(SPOT, s, g))
    label = "long gamma: dampened, pinning" if gex_at_spot > 0 else "short gamma: trending, breakout-prone"
    return {
        "analysis_date": ANALYSIS_DATE,
        "as_of": dt.datetime(2025, 10, 3, 16, 0),
        "spot": SPOT,
        "expiries": list(EXPIRIES),
        "total_gex": float(exposures["net_gex"].sum()),
        "gamma_flip": flip,
        "call_wall": call_wall,
        "put_wall": put_wall,
        "abs_gamma_strike": abs_gamma,
        "gamma_centroid": centroid,
        "max_pain": max_pain,
        "regime": {
            "label": label,
            "perspective": "dealer",
            "gex_at_spot": gex_at_spot,
            "distance_to_flip_pct": (SPOT / flip - 1) * 100,
            "strength": min(1.0, abs(gex_at_spot) / 5e9),
        },
        "levels": _levels(call_wall, put_wall, flip, max_pain),
        "patterns": [
            {
                "kind": "pin",
                "strength": 0.72,
                "strikes": [670.0],
                "expiry": EXPIRIES[0].isoformat(),
                "note": "large dealer-long gamma at 670 into Monday's expiry",
            },
            {
                "kind": "put_skew_build",
                "strength": 0.55,
                "strikes": [650.0, 655.0, 660.0],
                "expiry": EXPIRIES[2].isoformat(),
                "note": "customers kept buying downside puts all week",
            },
            {
                "kind": "gamma_air_pocket",
                "strength": float("nan"),
                "strikes": [640.0, 645.0],
                "expiry": None,
                "note": "little dealer gamma below 645: thin hedging support",
            },
        ],
        "hedging_flows": _hedging_flows(book),
        "data_quality": {
            "trades": 1_284_551,
            "quoted_pct": 97.8,
            "unknown_side_pct": 8.4,
            "crossed_quote_pct": 0.6,
            "iv_solved_pct": 98.9,
            "days": flip_window_days,
            "warnings": [
                "2025-09-12: no quotes for 41 contracts; those prints signed by tick rule",
                "12 corrected/cancelled prints dropped",
            ],
        },
        "methodology": {
            "side": "quote rule at the prevailing NBBO, tick rule inside the spread (Lee-Ready style)",
            "open_close": "day-over-day open-interest change allocated to signed volume",
            "greeks": f"BSM, r={RATE}, q={DIV_YIELD}, ACT/365 to 16:00 ET, IV per contract from the close",
            "gex_units": "dealer $ delta change per 1% spot move: position x 100 x gamma x S^2 x 0.01",
        },
    }


def make_sample_bundle(seed: int = 7, intraday_prints: int = 1500) -> ReportBundle:
    """The full synthetic bundle, deterministic for a seed; ``intraday_prints`` rows of latest-day flow."""
    rng = np.random.default_rng(seed)
    contracts = _contracts()
    book = _customer_flows(_dealer_positions(contracts, rng), rng)
    greeks = _contract_greeks(book)
    exposures = _exposures_by_strike(greeks, book)
    profile = _gamma_profile(book)
    positions = book.select(POSITION_CSV_COLUMNS)
    return ReportBundle(
        summary=_summary(exposures, profile, positions, book, SURFACE_DAYS),
        exposures_by_strike=exposures,
        gamma_profile=profile,
        gex_surface=_gex_surface(exposures, rng),
        smile=_smile(contracts, rng),
        naive_gex=_naive_gex(book, greeks),
        intraday_flow=_intraday_flow(rng, intraday_prints),
        positions=positions,
        contract_greeks=greeks.drop("vomma_ex", "speed_ex"),
        strike_flow=_strike_flow(positions, rng),
    )
