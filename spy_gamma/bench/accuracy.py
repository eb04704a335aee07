"""``spy-gamma bench accuracy``: the product against the simulator's truth over many randomized markets.

Each market draws its microstructure from a seed (quote ages, print locations, whether size, depth, tick and
inside prints carry information at all, crosses and their codes, books the naive open-interest convention gets
right or wrong, inventory opened before the window) and runs the whole product on it. Per market, against the
truth at the as-of close, for the target expiries' contracts:

- dealer positions: correlation and WAPE (sum |est - true| / sum |true|) of ours and of the plain quote rule
  (above the mid a customer buy, below a sell, mid prints unsigned, crosses with a cross code left out, no start
  inventory);
- the quote rule given the same open-interest evidence as ours (its flow plus our start inventory, kept inside the
  OI at the close), so a market's gain splits into what the OI evidence adds and what the signing model adds;
- an oracle given the same evidence: each print read with its evidence class's true reliability (from the truth's
  sides) relative to the reference votes', as our model reads the reference at face value: what the prints' own
  signals are worth to a signer who knew every relative reliability; a market where it beats the quote rule by more
  than the allowed loss carries information beyond the quote that a method could use. The oracle on absolute
  accuracies is kept beside it (the reference read below face value too: information and scale together);
- total dealer GEX (true positions priced with the same vols): sign hit, relative error, whether the 90% band
  holds it; the flip's error in dollars;
- how often the reference votes (fresh, plain, at the touch) are right by volume, the truth's check of what the
  band assumes (votes right with an accuracy of at least ACCURACY_PRIOR's floor).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import beta as beta_distribution
from scipy.stats import norm

from spy_gamma.quant.book import dealer_book
from spy_gamma.quant.exposure import contract_exposures, gamma_flip, gamma_profile, hedging_flows
from spy_gamma.quant.positions import within_open_interest
from spy_gamma.quant.signing import ACCURACY_PRIOR, SigningFit
from spy_gamma.quant.votes import REFERENCE_STRATUM
from spy_gamma.settings import DEFAULT_DIVIDEND_YIELD, DEFAULT_RATE

AS_OF = dt.date(2025, 10, 3)
SIM_START, SIM_END = dt.date(2025, 9, 2), dt.date(2025, 10, 6)
FIRST_SEED = 1000
SCALE = 0.004  # ~4,900 SPY prints a session: small enough for 20 markets in minutes, large enough to fit
WORKERS = 2
LOSS_MARGINS = (0.01, 0.02)  # the allowed loss to the quote rule on any market: correlation, WAPE
COVERAGE_CONFIDENCE = 0.90  # of the interval stated around the band's coverage over the markets
Z90 = float(norm.ppf(0.95))  # a normal 90% band spans 2 x Z90 sds
HEDGE_SCENARIO = ("spot -1%", "spot_-1pct")  # the hedge scored against the truth: hedging_flows' name, the JSON's key


def run_accuracy_bench(markets: int = 20, json_path: Path | None = None, data_dir: Path | None = None,
                       scale: float = SCALE, workers: int = WORKERS) -> dict:
    """Simulate and analyse ``markets`` randomized markets (two at a time), score each, write JSON + Markdown."""
    root = Path(data_dir or os.environ.get("SPY_GAMMA_DATA_DIR", "data")) / "bench" / "accuracy"
    bench_dir = root / f"scale_{scale:g}"  # a market's files are its seed's at one scale
    seeds = [FIRST_SEED + i for i in range(markets)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        rows = list(pool.map(score_market, seeds, [bench_dir] * markets, [scale] * markets))
    result = {"as_of": AS_OF.isoformat(), "scale": scale, "markets": rows, "aggregate": aggregate(rows)}
    write_result(result, json_path or Path("reports/bench/accuracy.json"))
    return result


def score_market(seed: int, bench_dir: Path, scale: float) -> dict:
    """Simulate one randomized market, run the product on it (source: its files), and score it."""
    from spy_gamma.pipeline import SPYPositioningPipeline
    from spy_gamma.sources.simulator import simulate_market
    from spy_gamma.sources.simulator.params import MarketParams

    root = bench_dir / f"market_{seed}"
    flatfiles, data = root / "flatfiles", root / "data"
    params = MarketParams.draw(seed)
    if not (flatfiles / "truth" / "market.json").exists():
        simulate_market(SIM_START, SIM_END, flatfiles, seed=seed, scale=scale, params=params)
    pipeline = SPYPositioningPipeline(output_dir=root / "out", source="local", flatfiles_dir=flatfiles, data_dir=data)
    summary = pipeline.run_full_analysis(AS_OF, [])
    market = json.loads((flatfiles / "truth" / "market.json").read_text())
    return {"seed": seed, "params": market["params"], **score(data, flatfiles / "truth", summary)}


def score(data: Path, truth_root: Path, summary: dict) -> dict:
    """Positions (ours, quote rule) and GEX figures against the truth at the as-of close."""
    from spy_gamma.lake import Lake

    lake = Lake(data)
    expiries = lake.read("target_expiries", AS_OF)["expiry"].to_list()
    truth = pl.read_parquet(truth_root / "positions" / f"{AS_OF}.parquet").filter(pl.col("expiry").is_in(expiries))
    ours = lake.read("dealer_positions", AS_OF).filter(pl.col("expiry").is_in(expiries))
    quote = quote_rule_positions(lake, expiries)
    quote_with_oi = with_open_interest_evidence(quote, ours)
    sided = truth_sided_prints(lake, truth_root, expiries)
    oracle = with_open_interest_evidence(read_at_truth(sided, relative=True), ours)
    absolute_oracle = with_open_interest_evidence(read_at_truth(sided, relative=False), ours)
    chain = lake.read("contract_iv", AS_OF)
    spot = summary["spot"]
    true_book = dealer_book(truth.with_columns(pl.col("dealer_position").cast(pl.Float64)), chain, AS_OF)
    true_gex = float(contract_exposures(true_book, spot, DEFAULT_RATE, DEFAULT_DIVIDEND_YIELD)["gex"].sum())
    true_flip = gamma_flip(true_book, spot, DEFAULT_RATE, DEFAULT_DIVIDEND_YIELD,
                           gamma_profile(true_book, spot, DEFAULT_RATE, DEFAULT_DIVIDEND_YIELD))
    band = summary["total_gex_band"]
    ours_gex, flip = summary["total_gex"], summary["gamma_flip"]
    true_hedge = float(hedging_flows(true_book, spot, DEFAULT_RATE, DEFAULT_DIVIDEND_YIELD)
                       .filter(pl.col("scenario") == HEDGE_SCENARIO[0])["hedge_usd"][0])
    hedge_band = summary["hedging_flows_band"][HEDGE_SCENARIO[1]]
    fit = SigningFit.from_dict(json.loads(lake.read("signing_fit", AS_OF)["fit_json"][0]))
    return {
        "ours": recovery(ours, truth), "quote_rule": recovery(quote, truth),
        "quote_rule_with_oi": recovery(quote_with_oi, truth), "oracle": recovery(oracle, truth),
        "absolute_oracle": recovery(absolute_oracle, truth),
        "reference_accuracy": reference_accuracy(sided),
        "direction": fit.direction_unit if fit.identified else None,
        "top_contract_share": top_contract_share(truth),
        "true_total_gex": true_gex, "total_gex": ours_gex, "band": band,
        "gex_sign_right": bool(np.sign(ours_gex) == np.sign(true_gex)),
        "gex_relative_error": abs(ours_gex - true_gex) / max(abs(true_gex), 1.0),
        "band_covers_truth": bool(band["p05"] <= true_gex <= band["p95"]),
        "band_excludes_zero": bool(band["p05"] > 0 or band["p95"] < 0),
        "true_hedge_down_1pct": true_hedge, "hedge_band_down_1pct": hedge_band,
        "hedge_band_covers_truth": bool(hedge_band["p05"] <= true_hedge <= hedge_band["p95"]),
        "true_flip": true_flip, "flip": flip,
        "flip_error_usd": None if flip is None or true_flip is None else abs(flip - true_flip),
        "regime": summary["regime"]["label"], "prob_dealers_long_gamma": summary["prob_dealers_long_gamma"]}


def quote_rule_positions(lake, expiries: list[dt.date]) -> pl.DataFrame:
    """The plain quote rule's dealer positions over the window: -sign(price - mid) x size, mids unsigned, crosses
    with a cross code left out, starting flat."""
    from spy_gamma.defs.partitions import window_sessions

    prints = lake.read_days("classified_trades", window_sessions(AS_OF), missing_ok=True)
    return (prints.filter(pl.col("expiry").is_in(expiries))
            .group_by("ticker").agg((-pl.col("quote_vote").cast(pl.Float64) * pl.col("size") * pl.col("p_dealer"))
                                    .sum().alias("dealer_position")))


def truth_sided_prints(lake, truth_root: Path, expiries: list[dt.date]) -> pl.DataFrame:
    """The window's classified prints of ``expiries`` with the truth's ``true_side`` and ``dealer_involved``; a print
    the truth does not hold (a session without its truth file) has side 0 and no dealer: it counts in no accuracy
    (it still flows, as the quote rule's prints do, read as its class reads)."""
    from spy_gamma.defs.partitions import window_sessions

    sessions = window_sessions(AS_OF)
    prints = lake.read_days("classified_trades", sessions, missing_ok=True).filter(pl.col("expiry").is_in(expiries))
    files = [(day, truth_root / "trades" / f"{day}.parquet") for day in sessions]
    sides = pl.concat([pl.read_parquet(path).select(pl.lit(day).alias("date"), "file_row",
                                                    pl.col("customer_side").alias("true_side"), "dealer_involved")
                       for day, path in files if path.exists()]
                      or [pl.DataFrame(schema={"date": pl.Date, "file_row": pl.Int64, "true_side": pl.Int8,
                                               "dealer_involved": pl.Boolean})])
    return (prints.join(sides, on=["date", "file_row"], how="left")
            .with_columns(pl.col("true_side").fill_null(0), pl.col("dealer_involved").fill_null(False)))


def reference_accuracy(prints: pl.DataFrame) -> float | None:
    """The share of the reference votes' dealer volume whose side the truth agrees with (None without any)."""
    reference = prints.filter((pl.col("quote_stratum") == REFERENCE_STRATUM) & (pl.col("quote_vote") != 0)
                              & pl.col("dealer_involved"))
    volume = float(reference["size"].sum())
    right = reference.filter(pl.col("quote_vote") == pl.col("true_side"))["size"].sum()
    return float(right) / volume if volume > 0 else None


def read_at_truth(prints: pl.DataFrame, relative: bool) -> pl.DataFrame:
    """Per ticker, the dealer flow of ``prints`` with each read at its evidence class's true reliability 2a - 1: the
    quote stratum where the quote votes, the depth vote at the mid, a coin flip without a vote. A class's accuracy a
    is the share of its other dealer prints whose vote the truth (``true_side``, ``dealer_involved``) agrees with
    (leave-one-out, with one pseudo-print each way), so no print is read with its own side. ``relative``: as the
    model reads them, the reference class at face value and every other class's reliability over the reference's
    (:func:`reference_reliability`), a side kept within +-1."""
    quote = pl.col("quote_vote") != 0
    vote = pl.when(quote).then(pl.col("quote_vote")).otherwise(pl.col("depth_vote"))
    known = (pl.col("dealer_involved") & (vote != 0)).cast(pl.Float64)
    right = known * (vote == pl.col("true_side")).cast(pl.Float64)
    evidence = pl.when(quote).then(pl.col("quote_stratum")).otherwise(pl.lit("depth"))
    classed = prints.with_columns(evidence.alias("evidence"))
    reliability = 2 * (right.sum().over("evidence") - right + 1) / (known.sum().over("evidence") - known + 2) - 1
    if relative:
        scale = reference_reliability(classed.select(known.alias("known"), right.alias("right"), "evidence"))
        reliability = pl.when(pl.col("evidence") == REFERENCE_STRATUM).then(1.0).otherwise(reliability / scale)
    return (classed.with_columns(pl.when(vote == 0).then(0.0).otherwise((vote * reliability).clip(-1.0, 1.0))
                                 .alias("side"))
            .group_by("ticker").agg((-pl.col("side") * pl.col("size") * pl.col("p_dealer")).sum()
                                    .alias("dealer_position")))


def reference_reliability(votes: pl.DataFrame) -> float:
    """2a - 1 of the reference class's votes (``known``, ``right`` per print; one pseudo-print each way); 1 where it
    has none or reads no better than a coin flip: nothing to scale by, the other classes read as the absolute oracle
    reads them (a reference barely above a coin flip puts every other class at +-1)."""
    reference = votes.filter(pl.col("evidence") == REFERENCE_STRATUM)
    reliability = 2 * (float(reference["right"].sum()) + 1) / (float(reference["known"].sum()) + 2) - 1
    return reliability if reliability > 0 else 1.0


def with_open_interest_evidence(quote: pl.DataFrame, ours: pl.DataFrame) -> pl.DataFrame:
    """The quote rule's positions plus our start inventory, kept inside the open interest at the close where it is
    known (``ours``: ``ticker, start_inventory, open_interest``): the quote rule given our open-interest evidence."""
    position = pl.col("dealer_position").fill_null(0.0) + pl.col("start_inventory").fill_null(0.0)
    return (quote.join(ours.select("ticker", "start_inventory", "open_interest"), on="ticker", how="full",
                       coalesce=True)
            .select("ticker", within_open_interest(position).alias("dealer_position")))


def recovery(estimated: pl.DataFrame, truth: pl.DataFrame) -> dict:
    """Correlation and WAPE of estimated against true dealer positions over the union of their contracts."""
    joined = truth.select("ticker", pl.col("dealer_position").cast(pl.Float64).alias("true")).join(
        estimated.select("ticker", pl.col("dealer_position").cast(pl.Float64)), on="ticker", how="full",
        coalesce=True).fill_null(0.0)
    est, true = joined["dealer_position"].to_numpy(), joined["true"].to_numpy()
    usable = est.std() > 0 and true.std() > 0
    return {"contracts": joined.height, "correlation": float(np.corrcoef(est, true)[0, 1]) if usable else 0.0,
            "wape": float(np.abs(est - true).sum() / max(np.abs(true).sum(), 1.0)),
            "slope": float((est * true).sum() / max((true * true).sum(), 1.0))}


def top_contract_share(truth: pl.DataFrame) -> float:
    """The share of the true positions' variance held by the largest contract: where it is large, a market's
    position correlation (ours and the quote rule's) is mostly that one contract's reading."""
    deviation = truth["dealer_position"].cast(pl.Float64).to_numpy()
    squares = (deviation - deviation.mean()) ** 2 if deviation.size else deviation
    return float(squares.max() / squares.sum()) if squares.size and squares.sum() > 0 else 0.0


def informative(params: dict) -> bool:
    """Whether any signal beyond the quote carries information in a market."""
    return any(params.get(flag) for flag in ("size_informative", "depth_informative", "tick_informative",
                                             "inside_informative"))


def aggregate(rows: list[dict]) -> dict:
    """The goals of the bench: median corr/WAPE gains over the quote rule, worst losses and how many markets lose
    more than the allowed margin (LOSS_MARGINS), the signing's own median gains (over the quote rule given the same
    open-interest evidence), band coverage, signs, windows with a book direction identified, and the markets whose
    oracle (:func:`read_at_truth`, relative) gains more than the allowed loss over the quote rule given the same
    evidence: those with information beyond the quote that a method could use, and how many of them ours beats (over
    the quote rule, and over the quote rule given the same evidence: the signing's own beats); the band's
    coverage on the markets whose reference votes are right by volume as often as the band assumes."""
    corr_gain, wape_gain = _gains(rows, "quote_rule")
    signing_corr_gain, signing_wape_gain = _gains(rows, "quote_rule_with_oi")
    signal = np.array([informative(r["params"]) for r in rows])
    oracle_gain, absolute_oracle_gain = (np.array([r[name]["correlation"] - r["quote_rule_with_oi"]["correlation"]
                                                   for r in rows]) for name in ("oracle", "absolute_oracle"))
    usable = oracle_gain > LOSS_MARGINS[0]
    accuracies = [r["reference_accuracy"] for r in rows if r["reference_accuracy"] is not None]
    assumed = [r for r in rows if (r["reference_accuracy"] or 0.0) >= ACCURACY_PRIOR[0]]
    excludes = [r for r in rows if r["band_excludes_zero"]]
    flips = [r["flip_error_usd"] for r in rows if r["flip_error_usd"] is not None]
    return {"markets": len(rows), "median_corr_gain": float(np.median(corr_gain)),
            "median_wape_gain": float(np.median(wape_gain)),
            "worst_corr_gain": float(corr_gain.min()), "worst_wape_gain": float(wape_gain.min()),
            "markets_losing_corr": int((corr_gain < -LOSS_MARGINS[0]).sum()),
            "markets_losing_wape": int((wape_gain < -LOSS_MARGINS[1]).sum()),
            "median_signing_corr_gain": float(np.median(signing_corr_gain)),
            "median_signing_wape_gain": float(np.median(signing_wape_gain)),
            "directions_identified": sum(r["direction"] is not None for r in rows),
            "informative_markets": int(signal.sum()),
            "beats_on_every_informative_market": bool(((corr_gain > 0) & (wape_gain > 0))[signal].all()),
            "median_oracle_corr_gain": float(np.median(oracle_gain)),
            "median_absolute_oracle_corr_gain": float(np.median(absolute_oracle_gain)),
            "oracle_informative_markets": int(usable.sum()),
            "oracle_informative_markets_beaten": int(((corr_gain > 0) & (wape_gain > 0))[usable].sum()),
            "oracle_informative_markets_signing_beats": int(((signing_corr_gain > 0) & (signing_wape_gain > 0))[usable]
                                                            .sum()),
            "band_coverage": float(np.mean([r["band_covers_truth"] for r in rows])),
            "band_coverage_interval": coverage_interval(sum(r["band_covers_truth"] for r in rows), len(rows)),
            "median_reference_accuracy": float(np.median(accuracies)) if accuracies else None,
            "markets_within_the_accuracy_prior": len(assumed),
            "band_coverage_within_the_accuracy_prior": float(np.mean([r["band_covers_truth"] for r in assumed]))
            if assumed else None,
            "band_rms_z": band_rms_z(rows),
            "hedge_band_coverage": _share(rows, "hedge_band_covers_truth"),
            "sign_right_share": float(np.mean([r["gex_sign_right"] for r in rows])),
            "sign_right_where_band_excludes_zero": float(np.mean([r["gex_sign_right"] for r in excludes]))
            if excludes else None,
            "median_gex_relative_error": float(np.median([r["gex_relative_error"] for r in rows])),
            "median_flip_error_usd": float(np.median(flips)) if flips else None}


def _share(rows: list[dict], flag: str) -> float | None:
    """The share of the markets that score ``flag`` holding (None when none does: results stored before it)."""
    scored = [r[flag] for r in rows if flag in r]
    return float(np.mean(scored)) if scored else None


def _gains(rows: list[dict], baseline: str) -> tuple[np.ndarray, np.ndarray]:
    """Per market, our correlation gain and WAPE gain over ``baseline``'s positions."""
    return (np.array([r["ours"]["correlation"] - r[baseline]["correlation"] for r in rows]),
            np.array([r[baseline]["wape"] - r["ours"]["wape"] for r in rows]))


def coverage_interval(hits: int, n: int, confidence: float = COVERAGE_CONFIDENCE) -> list[float]:
    """Clopper-Pearson interval of a coverage rate seen ``hits`` times in ``n`` markets: how far so few markets
    pin down the band's true coverage (39 of 40 is consistent with 90%)."""
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if hits == 0 else float(beta_distribution.ppf(tail, hits, n - hits + 1))
    high = 1.0 if hits == n else float(beta_distribution.ppf(1.0 - tail, hits + 1, n - hits))
    return [low, high]


def band_rms_z(rows: list[dict]) -> float:
    """Root mean square over markets of the truth's distance from its band's median in the band's implied sds
    ((p95 - p05) / (2 x Z90)): 1 for a calibrated normal band, below 1 for a band wider than its errors. It uses
    every market's distance, not one bit per market as coverage does."""
    z = [(r["true_total_gex"] - r["band"]["p50"]) * 2.0 * Z90 / (r["band"]["p95"] - r["band"]["p05"])
         for r in rows if r["band"]["p95"] > r["band"]["p05"]]
    return float(np.sqrt(np.mean(np.square(z)))) if z else float("nan")


def write_result(result: dict, json_path: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2, default=str))
    json_path.with_suffix(".md").write_text(markdown_table(result))


def markdown_table(result: dict) -> str:
    """One row per market and the aggregate goals."""
    lines = [f"# Accuracy over {len(result['markets'])} randomized markets (as of {result['as_of']}, "
             f"scale {result['scale']})", "",
             "| seed | informative | direction | top contract | reference right | corr ours | corr quote | "
             "corr quote+OI | corr oracle | WAPE ours | WAPE quote | WAPE quote+OI | true GEX $bn | ours $bn | "
             "90% band $bn | covers | sign | flip err $ |", "|---" * 18 + "|"]
    for r in result["markets"]:
        band = r["band"]
        lines.append(
            f"| {r['seed']} | {'yes' if informative(r['params']) else 'no'} | {r['direction'] or 'none'} | "
            f"{r['top_contract_share']:.2f} | {_cell(r['reference_accuracy'])} | {r['ours']['correlation']:.3f} | "
            f"{r['quote_rule']['correlation']:.3f} | {r['quote_rule_with_oi']['correlation']:.3f} | "
            f"{r['oracle']['correlation']:.3f} | "
            f"{r['ours']['wape']:.3f} | {r['quote_rule']['wape']:.3f} | {r['quote_rule_with_oi']['wape']:.3f} | "
            f"{r['true_total_gex'] / 1e9:.2f} | {r['total_gex'] / 1e9:.2f} | {band['p05'] / 1e9:.2f} .. "
            f"{band['p95'] / 1e9:.2f} | {'yes' if r['band_covers_truth'] else 'no'} | "
            f"{'right' if r['gex_sign_right'] else 'wrong'} | "
            f"{'' if r['flip_error_usd'] is None else format(r['flip_error_usd'], '.2f')} |")
    lines += ["", "| aggregate | value |", "|---|---|"]
    lines += [f"| {key} | {_cell(value)} |" for key, value in result["aggregate"].items()]
    return "\n".join(lines) + "\n"


def _cell(value: float | int | list | None) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return " .. ".join(f"{v:.3f}" for v in value) if isinstance(value, list) else str(value)
