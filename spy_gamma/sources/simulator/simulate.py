"""``simulate_market``: day by day, the embedded market writes Polygon-layout flat files plus the truth.

The world starts ``params.warmup_sessions`` sessions before ``start`` with an empty book; those sessions trade
(customers open inventory) but write no flat files, so the first written day's open interest is already non-zero.
Customer holdings, the spot level and the vol level carry over from one session to the next. Each day draws from
its own ``SeedSequence([seed, ordinal])``, so the same seed and params give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from spy_gamma.quant.expiry_time import session_close_ns
from spy_gamma.sources.simulator import book as customer_book
from spy_gamma.sources.simulator import market
from spy_gamma.sources.simulator.flow import ChainIndex, customer_orders
from spy_gamma.sources.simulator.market import (
    DIVIDEND_YIELD,
    RATE,
    SPOT_START,
    SpotDay,
    VolSurface,
    expiry_close_array,
    listed_chain,
    listed_expiries,
    minute_bars,
    next_vol_level,
    simulate_spot_day,
    tte_years,
)
from spy_gamma.sources.simulator.noise import NOISE_ROOTS, NoiseContracts, noise_prints
from spy_gamma.sources.simulator.params import MarketParams
from spy_gamma.sources.simulator.pricing import OptionPricer
from spy_gamma.sources.simulator.quotes import Quotes
from spy_gamma.sources.simulator.tape import OPTION_EXCHANGES, build_tape
from spy_gamma.sources.simulator.writer import (
    cents_text,
    flatfile_path,
    truth_path,
    write_csv_gz,
    write_json,
    write_parquet,
)
from spy_gamma.trading_calendar import previous_trading_day, sessions_ending, trading_days

FULL_DAY_TRADES = 6_000_000  # scale=1.0: a full OPRA day
SPY_SHARE = 0.2
EXACT_CLOCK_SESSIONS = 3  # the last sessions keep ns timestamps; older ones are ms like Polygon's archive
LISTING_HORIZON_DAYS = 200  # sessions known ahead of the last day, for listing expiries
TRADE_COLUMNS = ["ticker", "conditions", "correction", "exchange", "price", "sip_timestamp", "size"]
QUOTE_COLUMNS = ["ticker", "ask_exchange", "ask_price", "ask_size", "bid_exchange", "bid_price", "bid_size",
                 "sequence_number", "sip_timestamp"]
SPY_SHARES_PER_MINUTE, OTHER_SHARES_PER_MINUTE = 150_000.0, 60_000.0  # at scale 1


@dataclass(frozen=True)
class SimulationSummary:
    """What was written: sessions, rows per day per kind, wall seconds."""

    days: list[dt.date]
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class WorldState:
    """What carries from one session to the next."""

    book: pl.DataFrame
    previous: SpotDay | None = None
    log_vol_level: float = 0.0
    spot_closes: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Session:
    """One simulated session up to the book update: what warmup sessions stop at and written ones build on."""

    spot: SpotDay
    surface: VolSurface
    expiries: list[dt.date]  # listed today
    chain: pl.DataFrame  # listed contracts (plus any still held) with the holdings at the start of the day
    orders: pl.DataFrame  # SPY customer orders with their open/close truth
    closed_book: pl.DataFrame  # the chain with the holdings at the close
    noise_count: int  # prints on other roots today


def structure_target(start: dt.date, expiries: list[dt.date]) -> tuple[dt.date, int] | None:
    """The persistent customer structure: a Friday expiry ~5 weeks out, centred on the round strike above spot."""
    fridays = [e for e in expiries if e.weekday() == 4 and (e - start).days <= 35]
    return (fridays[-1], int(np.ceil(SPOT_START / 10.0) * 10 + 10)) if fridays else None


def day_volume(scale: float, rng: np.random.Generator) -> tuple[int, int]:
    """SPY and other-root print counts: ~6 M prints a day at scale 1, SPY ~20%."""
    total = FULL_DAY_TRADES * scale * rng.lognormal(0.0, 0.12)
    return max(int(total * SPY_SHARE), 50), max(int(total * (1 - SPY_SHARE)), 50)


def customer_legs(orders: pl.DataFrame) -> pl.DataFrame:
    """Every customer behind an uncorrected print: the initiator, and the contra customer of a cross."""
    live = orders.with_row_index("order").filter(~pl.col("corrected"))
    initiators = live.select("order", "row", "ts", "side", "size", "close_intent", (~pl.col("cross")).alias("dealer"))
    contras = live.filter(pl.col("cross")).select(
        "order", "row", "ts", -pl.col("side"), "size", pl.col("contra_close_intent").alias("close_intent"),
        pl.lit(False).alias("dealer"))
    return pl.concat([initiators.with_columns(pl.lit(True).alias("initiator")),
                      contras.with_columns(pl.lit(False).alias("initiator"))]).sort("ts", "order", "initiator")


def open_close_truth(orders: pl.DataFrame, legs: pl.DataFrame, closing: np.ndarray) -> pl.DataFrame:
    """Per order: the initiator's BTO/STO/BTC/STC and, for crosses, the contra customer's."""
    labels = legs.select("order", "initiator").with_columns(
        customer_book.open_close_labels(legs["side"].to_numpy(), closing).alias("label"))
    intended = customer_book.open_close_labels(orders["side"].to_numpy(), orders["close_intent"].to_numpy())
    initiator = labels.filter(pl.col("initiator")).select("order", pl.col("label").alias("open_close"))
    contra = labels.filter(~pl.col("initiator")).select("order", pl.col("label").alias("contra_open_close"))
    return (orders.with_row_index("order").with_columns(intended.alias("intended"))
            .join(initiator, on="order", how="left").join(contra, on="order", how="left")
            .with_columns(pl.col("open_close").fill_null(pl.col("intended")), pl.col("contra_open_close").fill_null(""))
            .drop("order", "intended"))


def quotes_frame(quotes: Quotes, tickers: pl.Series, rng: np.random.Generator) -> pl.DataFrame:
    """The quotes file: sorted by time, increasing sequence numbers."""
    q = quotes.take(np.lexsort((quotes.key, quotes.ts)))
    return pl.DataFrame({
        "ticker": tickers.gather(q.key), "ask_exchange": rng.choice(OPTION_EXCHANGES, q.key.size), "ask_price": q.ask,
        "ask_size": q.ask_size, "bid_exchange": rng.choice(OPTION_EXCHANGES, q.key.size), "bid_price": q.bid,
        "bid_size": q.bid_size, "sequence_number": 1_000 + np.arange(q.key.size, dtype=np.int64) * 7,
        "sip_timestamp": q.ts,
    }).with_columns(cents_text(pl.col("ask_price")), cents_text(pl.col("bid_price")))


def simulate_session(day: dt.date, session_number: int, world: WorldState, calendar: set[dt.date],
                     structure: tuple[dt.date, int] | None, millisecond_clock: bool, scale: float,
                     params: MarketParams, rng: np.random.Generator) -> Session:
    """Spot, surface, chain, customer flow and the book update; advances ``world`` to the close."""
    anchor = SPOT_START * (1.0 + 0.0006 * session_number)
    spot = simulate_spot_day(day, world.previous, anchor, rng)
    overnight = 0.0 if world.previous is None else float(np.log(spot.path[0] / world.previous.close))
    world.log_vol_level = next_vol_level(world.log_vol_level, overnight, rng)
    surface = VolSurface(float(np.exp(world.log_vol_level)))

    expiries = listed_expiries(day, calendar)
    chain = customer_book.align_book(world.book, listed_chain(day, float(spot.path[0]), expiries, world.book))
    index = ChainIndex.build(chain, expiry_closes(chain))

    n_spy, n_noise = day_volume(scale, rng)
    orders = customer_orders(n_spy, day, spot, surface, index, structure, millisecond_clock, params, rng)
    legs = customer_legs(orders)
    closed_book, closing = customer_book.trade_book(chain, legs)

    world.book = closed_book.filter((pl.col("expiry") > day) & pl.any_horizontal(
        pl.col(c) != 0 for c in customer_book.BOOK_COLUMNS)).select(customer_book.empty_book().columns)
    world.previous = spot
    return Session(spot, surface, expiries, chain, open_close_truth(orders, legs, closing), closed_book, n_noise)


def expiry_closes(chain: pl.DataFrame) -> dict[dt.date, int]:
    """When each expiry in the chain stops trading (epoch ns)."""
    expiries = chain["expiry"].unique().to_list()
    return dict(zip(expiries, expiry_close_array(expiries)))


def session_files(session: Session, exact_clock: bool, params: MarketParams,
                  rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """A written session's flat files and truth: noise roots, the tape and quotes, minute bars, open interest."""
    spot, chain, expiries = session.spot, session.chain, session.expiries
    noise, noise_contracts = noise_prints(session.noise_count, spot, session.surface, expiries,
                                          expiry_close_array(expiries), not exact_clock, rng)
    prints, pricer, tickers = combined_universe(session.orders, chain, noise, noise_contracts, spot, session.surface)
    quoted = np.r_[np.arange(chain.height),
                   chain.height + np.flatnonzero(noise_contracts.quoted)]
    tape, quotes = build_tape(prints, pricer, quoted, params, rng)
    trades = trades_frame(tape, tickers, rng)
    start_oi = customer_book.open_interest(chain)
    return {
        "trades": trades.select(TRADE_COLUMNS), "quotes": quotes_frame(quotes, tickers, rng),
        "minute_aggs": stock_minute_bars(spot, rng),
        "open_interest": chain.filter(start_oi > 0).select("ticker", start_oi.alias("open_interest")),
        "truth_trades": trade_truth(trades),
        "truth_positions": position_truth(session.closed_book, spot, session.surface),
    }


def stock_minute_bars(spot: SpotDay, rng: np.random.Generator) -> pl.DataFrame:
    """SPY's own bars plus a few other ETFs (the stock file holds every ticker; readers must filter)."""
    others = [minute_bars(spot, r.root, r.beta, r.level, OTHER_SHARES_PER_MINUTE, rng)
              for r in NOISE_ROOTS if r.minute_bars]
    return pl.concat([minute_bars(spot, "SPY", 1.0, float(spot.path[0]), SPY_SHARES_PER_MINUTE, rng), *others])


def combined_universe(orders: pl.DataFrame, chain: pl.DataFrame, noise: pl.DataFrame, contracts: NoiseContracts,
                      spot: SpotDay,
                      surface: VolSurface) -> tuple[pl.DataFrame, OptionPricer, pl.Series]:
    """SPY chain rows first, then the noise contracts: one key space, one pricer."""
    spy = orders.select(pl.col("row").alias("key"), "ts", "side", "size", "is_multileg", "cross")
    other = noise.with_columns(pl.col("key") + chain.height)
    n_chain = chain.height
    pricer = OptionPricer(
        spot, surface, strike=np.r_[chain["strike"].to_numpy(), contracts.strike],
        is_call=np.r_[(chain["right"] == "C").to_numpy(), contracts.is_call],
        expiry_close=np.r_[expiry_close_array(chain["expiry"].to_list()), contracts.expiry_close],
        level=np.r_[np.full(n_chain, spot.path[0]), contracts.level],
        beta=np.r_[np.ones(n_chain), contracts.beta], vol_scale=np.r_[np.ones(n_chain), contracts.vol_scale])
    tickers = pl.concat([chain["ticker"], contracts.tickers]).rename("ticker")
    spy_truth = orders.select("open_close", "contra_open_close", "corrected", pl.lit(True).alias("is_spy"))
    noise_truth = pl.DataFrame({"open_close": [""] * noise.height, "contra_open_close": [""] * noise.height,
                                "corrected": np.zeros(noise.height, bool), "is_spy": np.zeros(noise.height, bool)})
    prints = pl.concat([pl.concat([spy, other.select(spy.columns)]), pl.concat([spy_truth, noise_truth])],
                       how="horizontal")
    return prints, pricer, tickers


def trades_frame(tape: pl.DataFrame, tickers: pl.Series, rng: np.random.Generator) -> pl.DataFrame:
    """File order (time, then contract), corrections flagged on ~0.2% of SPY and other prints."""
    n = tape.height
    noise_corrected = ~tape["is_spy"].to_numpy() & (rng.random(n) < 0.002)
    corrected = tape["corrected"].to_numpy() | noise_corrected
    correction = np.where(corrected, np.where(rng.random(n) < 0.5, 1, 12), 0)
    return tape.with_columns(
        tickers.gather(tape["key"]), pl.Series("correction", correction),
        pl.Series("corrected", corrected), cents_text(pl.col("price_cents")).alias("price"),
        pl.col("ts").alias("sip_timestamp"),
    ).sort("sip_timestamp", "key", maintain_order=True).with_row_index("file_row")


def trade_truth(trades: pl.DataFrame) -> pl.DataFrame:
    """truth/trades (DATA_MODEL) keyed by file_row, SPY rows only; extends it with ``corrected`` (the print
    never reached the book), ``contra_open_close`` (the other customer of a cross), ``mechanism`` (how the print
    came about: aggressor, resting_limit, inside, mid, auction, multileg, cross) and ``quote_age_ns`` (age of the
    prevailing quote in the file at the print)."""
    return trades.filter(pl.col("is_spy")).select(
        pl.col("file_row").cast(pl.Int64), "ticker", pl.col("side").cast(pl.Int8).alias("customer_side"),
        "open_close", (~pl.col("cross")).alias("dealer_involved"), "print_location", "is_multileg",
        "corrected", "contra_open_close", "mechanism", "quote_age_ns")


def position_truth(book: pl.DataFrame, spot: SpotDay, surface: VolSurface) -> pl.DataFrame:
    """truth/positions: each listed SPY contract at the close, with open interest and the close implied vol."""
    close_ns = session_close_ns(spot.day)
    tte = tte_years(np.full(book.height, close_ns), expiry_close_array(book["expiry"].to_list()))
    iv = surface.implied_vol(np.full(book.height, spot.close), book["strike"].to_numpy(), tte)
    return book.select("ticker", "expiry", "right", "strike", "dealer_position", "customer_long", "customer_short",
                       customer_book.open_interest(book).alias("open_interest")).with_columns(pl.Series("iv", iv))


def simulate_market(start: dt.date, end: dt.date, out_dir: Path, seed: int = 7, scale: float = 0.01,
                    progress: Callable[[dt.date], None] | None = None,
                    params: MarketParams | None = None) -> SimulationSummary:
    """Write the flat-file layout and ``truth/`` for NYSE sessions in [start, end]; deterministic from ``seed`` and
    ``params`` (``None``: :meth:`MarketParams.default`)."""
    began = time.perf_counter()
    out_dir, params = Path(out_dir), params or MarketParams.default()
    sessions = trading_days(start, end)
    warmup = sessions_ending(previous_trading_day(start), params.warmup_sessions) if sessions else []
    simulated = warmup + sessions
    first = simulated[0] if simulated else start
    calendar = set(trading_days(first, end + dt.timedelta(days=LISTING_HORIZON_DAYS)))
    structure = structure_target(first, listed_expiries(first, calendar))
    world = WorldState(book=customer_book.empty_book())
    rows: dict[str, dict[str, int]] = {}
    for number, day in enumerate(simulated):
        rng = np.random.default_rng(np.random.SeedSequence([seed, day.toordinal()]))
        exact_clock = number >= len(simulated) - EXACT_CLOCK_SESSIONS
        session = simulate_session(day, number, world, calendar, structure, not exact_clock, scale, params, rng)
        if day < start:
            if day == warmup[-1]:  # the book the first written day opens with
                write_parquet(position_truth(session.closed_book, session.spot, session.surface),
                              truth_path(out_dir, "positions", day))
            continue
        frames = session_files(session, exact_clock, params, rng)
        write_session(out_dir, day, frames)
        world.spot_closes.append(round(session.spot.close, 2))
        rows[day.isoformat()] = {kind: frame.height for kind, frame in frames.items()}
        if progress is not None:
            progress(day)
    write_json(market_summary(seed, scale, params, sessions, warmup, world, structure),
               out_dir / "truth" / "market.json")
    return SimulationSummary(sessions, rows, time.perf_counter() - began)


def write_session(out_dir: Path, day: dt.date, frames: dict[str, pl.DataFrame]) -> None:
    for kind in ("trades", "quotes", "minute_aggs", "open_interest"):
        write_csv_gz(frames[kind], flatfile_path(out_dir, kind, day))
    write_parquet(frames["truth_trades"], truth_path(out_dir, "trades", day))
    write_parquet(frames["truth_positions"], truth_path(out_dir, "positions", day))


def market_summary(seed: int, scale: float, params: MarketParams, sessions: list[dt.date], warmup: list[dt.date],
                   world: WorldState, structure: tuple[dt.date, int] | None) -> dict:
    return {
        "seed": seed, "scale": scale, "r": RATE, "q": DIVIDEND_YIELD, "params": params.describe(),
        "sessions": [d.isoformat() for d in sessions], "warmup_sessions": [d.isoformat() for d in warmup],
        "spot_close": world.spot_closes, "spot_start": SPOT_START, "intraday_vol": market.INTRADAY_VOL,
        "surface": {"model": "SSVI (Gatheral-Jacquier 2014), ATM term structure x daily level",
                    "rho": market.SSVI_RHO, "eta": market.SSVI_ETA, "gamma": market.SSVI_GAMMA},
        "structure": None if structure is None else {"expiry": structure[0].isoformat(), "center_strike": structure[1]},
        "book_start": (f"empty {len(warmup)} sessions before the first written day; truth/positions/"
                       f"{warmup[-1].isoformat()}.parquet is the book it opens with") if warmup else
                      "empty: open interest is 0 before the first session",
    }
