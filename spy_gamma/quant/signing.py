"""P(the customer bought) for every print: a latent-class model fitted to the prints being analysed.

Each print's customer side s is latent. Evidence about it:

- the quote vote (above the mid: buy, below: sell; :mod:`spy_gamma.quant.votes`), its reliability estimated per
  *stratum*: where it sits (at or through the touch, inside), how old the prevailing quote is, and its kind: whether its
  size equals the displayed size it hit (a resting customer limit order filled by a market maker, where the vote
  may reverse: the GSU trade-size rule, Grauer, Schuster & Uhrig-Homburg 2023), a multi-leg or an auction print;
- at the mid, where the quote cannot vote: the depth imbalance (GSU depth rule), with an accuracy of its own;
- the book direction of the print's unit (a contract, or a strike of one right across expiries: the data choose,
  :func:`fit_model`): a unit's prints share P(buy) = mu, mu ~ Beta(alpha, alpha) across units (centred on 1/2).
  It is what signs the mid prints of a strike customers kept buying, and what lets the data tell how reliable
  each stratum is relative to the others. Legs of packages (multi-leg prints) trade for the package and take no
  part in it; nor does a print that outweighs the rest of its contract, which is read as the quote rule reads it.
  mu is the direction of the unit's opening days (open interest rose); prints of closing or unclassed days share
  it through their class's estimated link (customers close against the book they opened), prints of days not yet
  classed through the links' mix.

Reliabilities and the spread of directions come from the method of moments on vote pairs of one direction unit
on different days (see :meth:`SigningModel.fit`): fresh, plain at-the-touch votes are taken at face value (the plain
quote rule) and every other reliability is what the data support against them. A signal that carries no
information is estimated at a coin flip and contributes nothing; data that show no book direction (or one day
alone) leave the model exactly the quote rule, mid prints at 1/2. Tick tests are not used: they compare a print
with its neighbours, whose sides share the contract's direction, so they are not independent of it given the
print's own side. Assumptions: docs/METHODOLOGY.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import norm

from spy_gamma.quant.votes import (
    GROUP_KEY,
    MAX_SPREAD_TICKS,
    REFERENCE_STRATUM,
    SPREAD_TICKS,
    VOTE_COLUMNS,
    keyed,
    pool_key,
    vote_features,
    vote_groups,
)

REFERENCE_ACCURACY = 1.0 - 1e-6  # taken at face value (kept off 1, as every accuracy is)
ACCURACY_MARGIN = 1e-3  # estimated accuracies are kept this far from 0 and 1 (logarithms stay finite)
GRID = np.linspace(0.0125, 0.9875, 40)  # the book direction mu is integrated on this grid
MIN_Z = 3.0  # the reference votes' covariance must stand out from zero by this many standard errors
# A reliability or link moves from its prior only as far as its estimate stands out beyond the gate (gate_z): set so
# that a fit whose every estimate (strata, pools, depth signal, links: some 10-30) carries no information moves none
# of them 95% of the time (Bonferroni over the estimates that can move: those with pairs, a pool of one stratum
# counted once, as its member). A gate at the 95% level of each estimate alone (2 sd) moves about one pure-noise
# estimate per fit, a one-sd gate a third.
FAMILY_ALPHA = 0.05
BOOTSTRAP_DRAWS, BOOTSTRAP_SEED = 200, 0  # Poisson bootstrap over direction units for the moments' standard errors
NO_DIRECTION = 1000.0  # alpha = beta of a book-direction prior that says "no direction" (sd 0.016)
# A vote taken at face value (the reference, or a stratum neither it nor its pool could move from face value:
# accuracy at or above AT_FACE_VALUE) is right with an accuracy a the files cannot tell, stated as a ~
# Uniform(ACCURACY_PRIOR); its flow's variance is then size^2 E[4 a (1 - a)] (2/3 size^2), the misclassification
# the quote rule cannot show.
# The prior's floor is a coin: the published success of the quote rule on option trades (about 60% on modern ISE and
# CBOE tapes, GSU 2023; 83% on CBOE in 1995, Savickas & Wilson 2003) counts trades, while positions weigh volume, and
# large resting limits filled at the touch print against their side, so by volume the votes can fall to chance
# (docs/METHODOLOGY.md, section 2).
AT_FACE_VALUE = 1 - ACCURACY_MARGIN - 1e-9  # an estimate at the margin's edge could not move from face value
ACCURACY_PRIOR = (0.5, 1.0)
_LOW, _HIGH = ACCURACY_PRIOR
FACE_VALUE_VARIANCE = 4 * ((_LOW + _HIGH) / 2 - (_HIGH ** 3 - _LOW ** 3) / (3 * (_HIGH - _LOW)))
FACE_VALUE_FLOWS = ["size_match_flow", "unsure_flow"]  # face-value flow outside the reference, by the band's prior
# A face-value print carrying this share of its contract's misclassification variance is a block: one print is
# right or wrong as a whole (its error is 0 or twice its size), which a normal sum would understate.
BLOCK_SHARE = 0.05
# A print carrying at least this share of its contract's dealer volume squared (as much as all its other prints
# together) decides its contract's flow on its own. The model's calibration (strata, depth, book directions) counts
# each print once, so it says next to nothing about such a print: it is read as the quote rule reads it (its vote at
# face value, no depth vote, at the mid a coin flip), and is not signed by its unit's direction.
DECIDING_SHARE = 0.5
BLOCK_FLOWS = "block_flows"  # per contract: the expected dealer flow of each block, drawn right or wrong
# Per contract, what the band's book lean is scaled by and acts on (quant/uncertainty.py): the reference votes' sum
# (vote x dealer volume) and their dealer volume, whose ratio over a right, weighted as the exposures weigh each
# contract, sets the lean's scale; the volume the votes leave unsigned; and the volume read at face value (its
# misread share carries the lean the other way).
LEAN_COLUMNS = ["reference_votes", "reference_volume", "unsigned_volume", "face_value_volume"]
# Per contract: its direction unit, and its flow's signed loading on the unit's direction (the band draws the
# direction once per unit).
DIRECTION_COLUMNS = ["direction_key", "direction_sd"]
UNDECIDED_EDGE = 0.1  # |P(buy) - 1/2| below this: the hard label is "unknown" (0)
# What shares a book direction: one contract, or one strike of one right across its expiries (customers who keep
# buying a strike roll it from expiry to expiry). The data choose (fit_model); the key is read from the ticker.
DIRECTION_UNITS = {"contract": r"^(.*)$", "strike": r"([CP]\d{8})$"}
# A contract-day's class (optional ``day_class`` column): "opening" where its open interest rose over the session,
# "closing" where it fell, "unclassed" where it did neither (flat, or the contract's expiry day); null where it is not
# known (the next OI file is not out: the as-of day, a live session). Customers open with their book and close
# against it, so a unit's direction mu is that of its opening days; a print of another class has P(buy) = 1/2 +
# link (mu - 1/2), its class's link estimated from the data (DAY_CLASSES[0] is the anchor, link 1), and a print of
# unknown class the mix of the links over the window's classified prints.
DAY_CLASS = "day_class"
DAY_CLASSES = ("opening", "closing", "unclassed", "unknown")
ESTIMATED_CLASSES = DAY_CLASSES[1:3]  # links read from the data; "unknown" takes their mix


@dataclass(frozen=True)
class SigningFit:
    """The fitted model: quote accuracy per stratum, depth accuracy, and the book directions' Beta prior."""

    quote_accuracy: dict[str, float]
    depth_accuracy: float
    alpha: float
    beta: float
    identified: bool
    co_movement: float
    prints: int
    direction_unit: str = "contract"
    day_class_link: dict[str, float] | None = None  # None: one class (no open-interest evidence), link 1
    pool_accuracy: dict[str, float] | None = None  # per pool_key with an estimated stratum; None: stored before pools
    gate: dict[str, int | float] | None = None  # {"estimates": K, "z": gate_z(K)}; None: nothing identified, or older

    @property
    def book_direction_sd(self) -> float:
        """Spread of the units' book directions (0: every unit a coin flip)."""
        a, b = self.alpha, self.beta
        return float(np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))

    def stratum_accuracy(self, stratum: str) -> float:
        """A stratum's quote accuracy: the fit's; for a stratum the fit never saw, its pool's (its location and kind
        as they read at other quote ages), as the fit's prior would have given it; else face value."""
        if stratum in self.quote_accuracy:
            return self.quote_accuracy[stratum]
        return (self.pool_accuracy or {}).get(pool_key(stratum), REFERENCE_ACCURACY)

    @classmethod
    def from_dict(cls, values: dict) -> SigningFit:
        """The fit back from :meth:`as_dict` (e.g. the lake's ``signing_fit`` table; fits stored before direction
        units were chosen are per contract, before day classes one class, before pools without them)."""
        return cls(**{name: values[name] for name in ("quote_accuracy", "depth_accuracy", "alpha", "beta",
                                                      "identified", "co_movement", "prints")},
                   direction_unit=values.get("direction_unit", "contract"),
                   day_class_link=values.get("day_class_link"), pool_accuracy=values.get("pool_accuracy"),
                   gate=values.get("gate"))

    def as_dict(self) -> dict:
        return {"quote_accuracy": self.quote_accuracy, "depth_accuracy": self.depth_accuracy, "alpha": self.alpha,
                "beta": self.beta, "book_direction_sd": self.book_direction_sd,
                "identified": self.identified, "co_movement": self.co_movement, "prints": self.prints,
                "direction_unit": self.direction_unit, "day_class_link": self.day_class_link,
                "pool_accuracy": self.pool_accuracy, "gate": self.gate}


@dataclass(frozen=True)
class SignedSession:
    """A session's prints with their side probabilities, each contract's dealer-flow moments, and the fit."""

    prints: pl.DataFrame
    contracts: pl.DataFrame
    fit: SigningFit


def sign_session(paired: pl.DataFrame) -> SignedSession:
    """Fit the model to one session's paired prints and sign them: prints gain ``p_customer_buy`` and the columns
    of :func:`with_side` and :func:`vote_features`; ``contracts`` are :meth:`SigningModel.contract_moments`."""
    features = vote_features(paired)
    model, fit = fit_model(vote_groups(features))
    return SignedSession(model.sign(features), model.contract_moments(), fit)


def fit_model(groups: pl.DataFrame) -> tuple[SigningModel, SigningFit]:
    """The model fitted with each DIRECTION_UNITS; the identified one whose reference co-movement stands out
    most (in standard errors) signs, or, if none is identified, the quote rule (per contract). Where ``groups``
    have day classes and no unit is identified on their opening days (a few opening days alone may show less than
    the whole window), the units are fitted again as one class."""
    candidates = _fitted(groups)
    identified = [(model, fit) for model, fit in candidates if fit.identified]
    if not identified and DAY_CLASS in groups.columns:
        identified = [(model, fit) for model, fit in _fitted(groups.drop(DAY_CLASS)) if fit.identified]
    return max(identified, key=lambda pair: pair[0].co_movement_z) if identified else candidates[0]


def _fitted(groups: pl.DataFrame) -> list[tuple[SigningModel, SigningFit]]:
    """The model fitted with each DIRECTION_UNITS."""
    models = [SigningModel(groups, unit) for unit in DIRECTION_UNITS]
    return [(model, model.fit()) for model in models]


def unit_key(unit: str) -> pl.Expr:
    """``unit``: the direction unit (DIRECTION_UNITS) of each row's ``ticker``."""
    return pl.col("ticker").str.extract(DIRECTION_UNITS[unit], 1).fill_null(pl.col("ticker")).alias("unit")


def in_units_of(frame: pl.DataFrame, tickers: pl.DataFrame, unit: str) -> pl.DataFrame:
    """The rows of ``frame`` whose direction unit (DIRECTION_UNITS ``unit``) holds one of ``tickers``' contracts."""
    key = unit_key(unit)
    return frame.with_columns(key).join(tickers.select(key).unique(), on="unit", how="semi").drop("unit")


def with_side(prints: pl.DataFrame) -> pl.DataFrame:
    """From ``p_customer_buy``: the hard label ``customer_side`` (0 when undecided) with its ``side_confidence``,
    ``side_evidence`` and ``dealer_sign``, and ``expected_dealer_flow = -(2p - 1) size p_dealer`` (ARCHITECTURE §4)."""
    p = pl.col("p_customer_buy")
    edge = (p - 0.5).abs()
    side = pl.when(edge < UNDECIDED_EDGE).then(0).otherwise((p - 0.5).sign()).cast(pl.Int8)
    evidence = (pl.when(pl.col("quote_vote") != 0).then(pl.lit("quote"))
                .when(pl.col("depth_vote") != 0).then(pl.lit("depth"))
                .otherwise(pl.lit("contract_propensity")))
    return prints.with_columns(
        side.alias("customer_side"), pl.when(side == 0).then(0.0).otherwise(0.5 + edge).alias("side_confidence"),
        evidence.alias("side_evidence"),
        (-(2 * p - 1) * pl.col("size").cast(pl.Float64) * pl.col("p_dealer")).alias("expected_dealer_flow"),
        pl.when(pl.col("p_dealer") == 0).then(0).otherwise(-side).cast(pl.Int8).alias("dealer_sign"))


class SigningModel:
    """The model over evidence groups (:func:`vote_groups`, one session or a window of them)."""

    def __init__(self, groups: pl.DataFrame, unit: str = "contract"):
        self.unit_name = unit
        # units, and contracts within them, contiguous
        groups = groups.with_columns(unit_key(unit), _spread_ticks(groups)).sort("unit", *GROUP_KEY)
        self.groups = groups.drop("unit")
        self.unit, self.contract = _run_ids(groups["unit"]), _run_ids(groups["ticker"])
        self.starts, self.contract_starts = _run_starts(self.unit), _run_starts(self.contract)
        self.unit_of_contract = self.unit[self.contract_starts]
        self.pairs = _ContractPairs.of(groups, self.unit, self.contract, self.starts)
        self.tickers = groups["ticker"].gather(self.contract_starts).to_list()
        self.unit_keys = groups["unit"].gather(self.contract_starts).to_list()
        self.strata = sorted(set(groups["stratum"].to_list()) - {""} | {REFERENCE_STRATUM})
        index = {name: i for i, name in enumerate(self.strata)}
        self.stratum = np.array([index.get(name, -1) for name in groups["stratum"].to_list()], dtype=np.int64)
        self.strata_kind = np.array([name.rsplit("|", 1)[-1] for name in self.strata])
        self.strata_pool = np.array([pool_key(name) for name in self.strata])
        self.kind = np.r_[self.strata_kind, [""]][self.stratum]  # "" for prints without a quote vote
        named = (groups[DAY_CLASS].fill_null(DAY_CLASSES[-1]).to_list() if DAY_CLASS in groups.columns
                 else [DAY_CLASSES[-1]] * groups.height)
        self.observed_class = np.array([DAY_CLASSES.index(name) for name in named], dtype=np.int64)
        self.day_class = np.zeros(groups.height, dtype=np.int64)  # one class until a fit or use says otherwise
        self.class_link = np.ones(len(DAY_CLASSES))
        self.votes = groups.select(VOTE_COLUMNS).to_numpy().astype(np.int8)
        self.spread_ticks = groups[SPREAD_TICKS].to_numpy().astype(np.int64)
        self.counts = groups["count"].to_numpy().astype(np.float64)
        self.dealer = groups["p_dealer"].to_numpy().astype(np.float64)
        self.size_sum = groups["size_sum"].to_numpy().astype(np.float64)
        self.size_square_sum = groups["size_square_sum"].to_numpy().astype(np.float64)
        self.size_max = (groups["size_max"].fill_null(0).to_numpy().astype(np.float64) if "size_max" in groups.columns
                         else np.zeros(groups.height))  # evidence stored before blocks were kept: no blocks
        self.deciding = self._deciding_prints()
        # a leg of a package trades for the package, not with its unit's direction: it neither informs the
        # direction nor is signed by it, and its stratum is never calibrated against it (kept at face value);
        # nor is a print that decides its contract (DECIDING_SHARE) signed by it
        self.shares_direction = (self.kind != "multileg") & ~self.deciding
        self.reference = np.array(self.strata) == REFERENCE_STRATUM
        # strata whose reliability is estimated (all but the reference and package legs, both at face value), and
        # each pool's (:func:`pool_key`: one location and kind at every quote age)
        self.gated = ~self.reference & (self.strata_kind != "multileg")
        self.pool_members = {key: np.flatnonzero((self.strata_pool == key) & self.gated)
                             for key in sorted(set(self.strata_pool[self.gated]))}
        self.quote_accuracy = np.full(len(self.strata), REFERENCE_ACCURACY)
        self.depth_accuracy = 0.5
        self.alpha = self.beta = NO_DIRECTION
        self.directed = False  # no book direction identified: every print reads its own evidence at mu = 1/2
        self.co_movement_z = 0.0

    # --- fitting -------------------------------------------------------------------------------------------
    def fit(self) -> SigningFit:
        """Reliabilities and the spread of book directions by the method of moments, on vote pairs from
        different days within one direction unit (a contract, or a strike across expiries; the reliabilities on
        matched pairs of its contracts, :meth:`_matched_ratios`); bootstrap standard errors over units.

        Given its book direction mu, two prints of a unit vote independently, so the covariance of their
        (centred) votes is r_i r_j Var(2 mu - 1), r = 2a - 1. A stratum's reliability relative to the reference
        is its votes' covariance with the reference votes of the same units over the reference votes'
        covariance among themselves, which is Var(2 mu - 1) and sets the Beta prior of mu. Only pairs from
        different days count: within a day votes also co-move with the option's price drift (stale quotes),
        whatever the sides. Votes are centred on their stratum's mean at each spread width (SPREAD_TICKS), so a
        stratum that leans one way for reasons of its own (where resting orders sit, where a one-tick spread leaves
        an improving print to land) is not mistaken for information. Each reliability moves from its prior only
        as far as its estimate stands out beyond the gate (:func:`gate_z`): a stratum's prior is its pool's
        reliability (its location and kind at every quote age, :func:`pool_key`), itself moved from face value the
        same way, so a stratum of few pairs (size-matched prints against a quote seconds old) reads as its kind reads
        at other ages; without a reference covariance MIN_Z standard errors above zero nothing is identified and the
        model is the quote rule. With day classes (opening days among the reference prints) every covariance is
        taken on opening days, each other class's link is its reference votes' covariance with the opening days'
        relative to theirs, shrunk towards 0 (no link), and the unknown class takes the links' print-weighted mix.
        """
        classed = bool((self._is_reference() & (self.observed_class == 0)).any())
        self.day_class = self.observed_class if classed else np.zeros_like(self.observed_class)
        reference_sums, weights = self._reference_sums(), self._bootstrap_weights()
        reference_pairs = self.pairs.cross_day(reference_sums, reference_sums)
        reference = self._direction_covariance(reference_pairs, weights)
        identified = bool(reference.estimate > MIN_Z * reference.error)
        strata_r, pools_r, depth_r, links_r, gate = (self._reliabilities(reference_sums, reference_pairs, weights)
                                                     if identified else self._at_face_values())
        estimated = np.r_[1.0, links_r]
        shares = np.bincount(self.day_class, self.counts, minlength=len(DAY_CLASSES))[:estimated.size]
        class_link = np.r_[estimated, estimated @ shares / max(shares.sum(), 1.0)]
        alpha, beta = _beta_prior(reference.estimate) if identified else (NO_DIRECTION, NO_DIRECTION)
        self.co_movement_z = float(reference.estimate / reference.error) if reference.error > 0 else 0.0
        quote_accuracy = np.where(self.reference, REFERENCE_ACCURACY, _accuracy(strata_r))
        fit = SigningFit(quote_accuracy=dict(zip(self.strata, quote_accuracy.tolist())),
                         depth_accuracy=float(_accuracy(depth_r)), alpha=alpha, beta=beta, identified=identified,
                         co_movement=float(reference.estimate), prints=int(self.counts.sum()),
                         direction_unit=self.unit_name,
                         day_class_link=dict(zip(DAY_CLASSES, class_link.tolist())) if classed else None,
                         pool_accuracy={str(key): float(_accuracy(r)) for key, r in pools_r.items()}, gate=gate)
        self.use(fit)  # the state a stored fit gives (unrounded), so a stored fit signs exactly as this one
        return fit

    def _reliabilities(self, reference_sums: tuple[np.ndarray, np.ndarray],
                       reference_pairs: tuple[np.ndarray, np.ndarray], weights: np.ndarray
                       ) -> tuple[np.ndarray, dict[str, float], float, np.ndarray, dict[str, int | float]]:
        """Reliabilities r = 2a - 1 relative to the reference, each moved from its prior by one gate for the fit
        (:func:`gate_z` of the estimates it makes): per stratum (prior: its pool's, itself from face value; the
        reference and multi-leg strata stay at face value), per pool, the depth signal's (prior 0) and the estimated
        classes' links (prior 0); and the gate (``{"estimates": K, "z": z}``)."""
        strata, pools, depth, links = self._matched_ratios(reference_sums, reference_pairs, weights)
        estimates = self._estimates(strata, pools, [depth, *links])
        z = gate_z(estimates)
        pooled = {key: pool.shrunk(1.0, z) for key, pool in pools.items()}
        strata_r = np.array([strata[index].shrunk(pooled[key], z) if index in strata else 1.0
                             for index, key in enumerate(self.strata_pool)])
        links_r = np.array([link.shrunk(0.0, z) for link in links])
        return strata_r, pooled, depth.shrunk(0.0, z), links_r, {"estimates": estimates, "z": round(z, 4)}

    def _estimates(self, strata: dict[int, _Ratio], pools: dict[str, _Ratio], others: list[_Ratio]) -> int:
        """K: the estimates that can move (finite error), each once: a pool with a single member that has pairs is
        that member's estimate."""
        movable = {index for index, ratio in strata.items() if np.isfinite(ratio.error)}
        distinct = [pool for key, pool in pools.items() if len(movable.intersection(self.pool_members[key])) > 1]
        return len(movable) + sum(bool(np.isfinite(ratio.error)) for ratio in [*distinct, *others])

    def _at_face_values(self) -> tuple[np.ndarray, dict[str, float], float, np.ndarray, None]:
        """The reliabilities of a fit that identified nothing: every stratum at face value, no pools, no depth
        signal, no links (the quote rule)."""
        return np.ones(len(self.strata)), {}, 0.0, np.zeros(len(ESTIMATED_CLASSES)), None

    def use(self, fit: SigningFit) -> None:
        """Take a fit's parameters (its own, or a stored one instead of estimating them: a stratum it never saw
        reads as :meth:`SigningFit.stratum_accuracy` says)."""
        self.quote_accuracy = np.array([fit.stratum_accuracy(name) for name in self.strata])
        self.depth_accuracy, self.alpha, self.beta = fit.depth_accuracy, fit.alpha, fit.beta
        self.directed = fit.identified
        links = fit.day_class_link
        self.day_class = self.observed_class if links else np.zeros_like(self.observed_class)
        self.class_link = (np.array([links.get(name, 0.0) for name in DAY_CLASSES]) if links
                           else np.ones(len(DAY_CLASSES)))

    def _is_reference(self) -> np.ndarray:
        return self._per_stratum(self.reference, False)

    def _per_stratum(self, values: np.ndarray, without_vote: bool | float) -> np.ndarray:
        """Per group, its stratum's entry of ``values``; ``without_vote`` for a group whose quote cast no vote."""
        return np.where(self.stratum >= 0, values[np.maximum(self.stratum, 0)], without_vote)

    @staticmethod
    def _direction_covariance(reference_pairs: tuple[np.ndarray, np.ndarray], weights: np.ndarray) -> _Ratio:
        """The cross-day covariance of the anchor class's reference votes within direction units (the spread of
        directions), from their cross-day pairs (:meth:`_ContractPairs.cross_day`), with a Poisson-bootstrap
        standard error over units."""
        products, pairs = reference_pairs
        return _Ratio.of(products.sum(axis=(1, 2)), pairs.sum(axis=(1, 2)), weights)

    def _matched_ratios(self, reference: tuple[np.ndarray, np.ndarray], reference_pairs: tuple[np.ndarray, np.ndarray],
                        weights: np.ndarray) -> tuple[dict[int, _Ratio], dict[str, _Ratio], _Ratio, list[_Ratio]]:
        """Relative to the anchor class's reference votes: each estimated stratum's reliability (by index,
        ``gated``), each pool's (``pool_members``), the depth signal's, and the reference votes of every
        other day class (the classes' links), from cross-day pairs of any two contracts of a direction unit (the
        expiries of a strike; one contract when the unit is the contract), each pair's covariance set against the
        reference votes' own in the very same two contracts.

        For any two contracts c, c' of a unit, cov(stratum vote in c, reference vote in c') is r r_ref cov(mu_c,
        mu_c') whatever the expiries share, so matching the pairs keeps a stratum (or a class) that trades in other
        expiries from reading as less reliable (less linked), while a strike's expiries give it several times the
        pairs of one contract. A pair of contracts whose reference votes give no cross-day pair is left out.
        Votes are centred within their stratum (:meth:`_centred`); ``reference`` holds the anchor class's reference
        votes per unit, contract slot and day, ``reference_pairs`` their cross-day pairs; bootstrap over units
        (``weights``)."""
        quote, depth = self.votes[:, 0].astype(np.float64), self.votes[:, 1].astype(np.float64)
        anchor = self.day_class == 0
        ref_products, ref_pairs = reference_pairs
        known = ref_pairs > 0
        ref_mean = np.divide(ref_products, ref_pairs, out=np.zeros_like(ref_products), where=known)

        def against_reference(mask: np.ndarray, vote: np.ndarray) -> _Ratio:
            products, pairs = self.pairs.cross_day(self.pairs.day_sums(mask, self._centred(mask, vote), self.counts),
                                                   reference)
            return _Ratio.of(np.where(known, products, 0.0).sum(axis=(1, 2)), (pairs * ref_mean).sum(axis=(1, 2)),
                             weights)

        strata = {int(index): against_reference((self.stratum == index) & anchor, quote)
                  for index in np.flatnonzero(self.gated)}
        pools = {key: against_reference(np.isin(self.stratum, indices) & anchor, quote)
                 for key, indices in self.pool_members.items()}
        links = [against_reference(self._is_reference() & (self.day_class == DAY_CLASSES.index(name)), quote)
                 for name in ESTIMATED_CLASSES]
        return strata, pools, against_reference((depth != 0) & anchor, depth), links

    def _reference_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """The anchor class's reference votes (centred) summed per unit, contract and day."""
        is_reference = self._is_reference() & (self.day_class == 0)
        return self.pairs.day_sums(is_reference, self._centred(is_reference, self.votes[:, 0].astype(np.float64)),
                                   self.counts)

    def _bootstrap_weights(self) -> np.ndarray:
        return np.random.default_rng(BOOTSTRAP_SEED).poisson(1.0, (BOOTSTRAP_DRAWS, self.pairs.shape[0]))

    def _centred(self, mask: np.ndarray, vote: np.ndarray) -> np.ndarray:
        """Votes minus their (count-weighted) mean over the ``mask`` groups of the same stratum and spread width (a
        pool's members each on their own mean, as each is alone)."""
        shape = (len(self.strata) + 1, MAX_SPREAD_TICKS + 1)
        cell, size = np.ravel_multi_index((self.stratum + 1, self.spread_ticks), shape), shape[0] * shape[1]
        totals = np.bincount(cell[mask], self.counts[mask], minlength=size)
        sums = np.bincount(cell[mask], (vote * self.counts)[mask], minlength=size)
        means = np.divide(sums, totals, out=np.zeros(size), where=totals > 0)
        return vote - means[cell]

    # --- posteriors ----------------------------------------------------------------------------------------
    @property
    def _grid(self) -> np.ndarray:
        """The book direction's grid: GRID, or mu = 1/2 alone without an identified direction."""
        return GRID if self.directed else np.array([0.5])

    def _likelihoods(self) -> tuple[np.ndarray, np.ndarray]:
        """P(a group's votes | buy) and P(... | sell), per group; a deciding print's quote vote at face value and
        no depth vote."""
        quote_plus, quote_minus = _vote_likelihood(self.votes[:, 0], self._quote_accuracy())
        depth_plus, depth_minus = _vote_likelihood(np.where(self.deciding, 0, self.votes[:, 1]), self.depth_accuracy)
        return quote_plus * depth_plus, quote_minus * depth_minus

    def _quote_accuracy(self) -> np.ndarray:
        """Per group, its quote vote's accuracy: its stratum's (0.5 without a vote), a deciding print's face value."""
        accuracy = self._per_stratum(self.quote_accuracy, 0.5)
        return np.where(self.deciding & (self.stratum >= 0), REFERENCE_ACCURACY, accuracy)

    def _posterior_and_conditional(self) -> tuple[np.ndarray, np.ndarray]:
        """Per unit the book direction's posterior on the grid; per group P(buy | direction) on the grid. Without
        an identified direction the grid is mu = 1/2 alone: each print reads its own evidence (the quote rule)."""
        plus, minus = self._likelihoods()
        grid = self._grid
        link = np.where(self.shares_direction, self.class_link[self.day_class], 0.0)
        mu = 0.5 + link[:, None] * (grid[None, :] - 0.5)
        mixed = mu * plus[:, None] + (1 - mu) * minus[:, None]
        log_prior = (self.alpha - 1) * np.log(grid) + (self.beta - 1) * np.log1p(-grid)
        informing = (self.counts * (link != 0))[:, None]
        joint = np.add.reduceat(np.log(mixed) * informing, self.starts, axis=0) + log_prior[None, :]
        posterior = np.exp(joint - _logsumexp(joint, axis=1, keepdims=True))
        return posterior, mu * plus[:, None] / mixed

    def sign(self, features: pl.DataFrame) -> pl.DataFrame:
        """The prints behind this model's groups (:func:`vote_features` rows) with their side (:func:`with_side`)."""
        probabilities = self.groups.with_columns(pl.Series("p_customer_buy", self.group_probabilities()))
        return with_side(keyed(features).join(probabilities.select(*GROUP_KEY, "p_customer_buy"), on=GROUP_KEY,
                                               how="left", maintain_order="left", nulls_equal=True)
                         .select(*features.columns, "p_customer_buy"))

    def group_probabilities(self) -> np.ndarray:
        """P(buy) per group: the expectation over its unit's direction posterior."""
        return self._probabilities(*self._posterior_and_conditional())

    def _probabilities(self, posterior: np.ndarray, conditional: np.ndarray) -> np.ndarray:
        return np.clip(np.einsum("ng,ng->n", posterior[self.unit], conditional), 0.0, 1.0)

    def contract_day_flows(self) -> pl.DataFrame:
        """``ticker, date, dealer_flow``: the posterior mean dealer flow of every contract-day (contracts)."""
        flow = pl.Series(self._dealer_flow(self.group_probabilities(), self.size_sum))
        return (self.groups.select("ticker", "date").with_columns(flow.alias("dealer_flow"))
                .group_by("ticker", "date").agg(pl.col("dealer_flow").sum()))

    def contract_moments(self) -> pl.DataFrame:
        """Per ``ticker``, the posterior mean and variance of its window flow (``dealer_flow``,
        ``dealer_flow_variance``) and what the band draws it with (``direction_key``, ``direction_sd``,
        FACE_VALUE_FLOWS, LEAN_COLUMNS, BLOCK_FLOWS).

        Given the direction the prints are independent: mean_g = -sum(size (2 p_g - 1) q), var_g = sum(size^2
        (q - (2 p_g - 1)^2 q^2)); over the direction's posterior (its unit's), var = E[var_g] + Var[mean_g].
        Var[mean_g] comes from the direction the unit's contracts share (``direction_key``); ``direction_sd`` is
        the contract's signed loading on it (:meth:`_direction_loading`). Votes taken at face value add their
        misclassification variance under the stated accuracy prior (FACE_VALUE_VARIANCE).
        """
        posterior, conditional = self._posterior_and_conditional()
        side = 2 * conditional - 1
        volume, dealer = (self.size_sum * self.dealer)[:, None], self.dealer[:, None]
        mean_g = np.add.reduceat(-side * volume, self.contract_starts, axis=0)
        var_g = np.add.reduceat(self.size_square_sum[:, None] * (dealer - (side * dealer) ** 2), self.contract_starts,
                                axis=0)
        face, p_buy = self._at_face_value(), self._probabilities(posterior, conditional)
        posterior = posterior[self.unit_of_contract]
        mean = (posterior * mean_g).sum(axis=1)
        blocks = self._block_groups(face)
        direction_variance = np.maximum((posterior * mean_g ** 2).sum(axis=1) - mean ** 2, 0.0)
        variance = (posterior * var_g).sum(axis=1) + direction_variance + self._face_value_variance(face, blocks)
        moments = pl.DataFrame({"ticker": self.tickers, "dealer_flow": mean,
                                "dealer_flow_variance": np.maximum(variance, 0.0),
                                "direction_key": self.unit_keys,
                                "direction_sd": self._direction_loading(posterior, mean_g),
                                **self._face_value_flows(face, p_buy), **self._lean_columns(face, p_buy)},
                               schema_overrides={"ticker": pl.String, "direction_key": pl.String})
        return moments.join(self._blocks(blocks, p_buy), on="ticker", how="left")

    def _direction_loading(self, posterior: np.ndarray, mean_g: np.ndarray) -> np.ndarray:
        """Per contract, cov(mean_g, mu) / sd(mu) over its unit's posterior: how its flow moves with one sd of the
        unit's direction, signed (a contract read mostly on closing days that reverse the book moves against its
        unit's opening-day contracts); its square is at most the flow's direction variance."""
        grid = self._grid
        mu_mean = posterior @ grid
        mu_sd = np.sqrt(np.maximum(posterior @ grid ** 2 - mu_mean ** 2, 0.0))
        covariance = (posterior * mean_g * (grid[None, :] - mu_mean[:, None])).sum(axis=1)
        return np.divide(covariance, mu_sd, out=np.zeros_like(covariance), where=mu_sd > 0)

    def _dealer_flow(self, p_buy: np.ndarray, size: np.ndarray) -> np.ndarray:
        """Per group, the expected dealer flow of ``size`` contracts bought with probability ``p_buy``."""
        return -(2 * p_buy - 1) * size * self.dealer

    def _per_contract(self, values: np.ndarray) -> np.ndarray:
        """Sums of per-group values by contract (in ``self.tickers`` order)."""
        return np.bincount(self.contract, values, minlength=self.contract_starts.size)

    def _at_face_value(self) -> np.ndarray:
        """Per group: a quote vote read at face value (the reference, a stratum left at face value, a deciding
        print)."""
        return (self.votes[:, 0] != 0) & (self._quote_accuracy() >= AT_FACE_VALUE)

    def _deciding_prints(self) -> np.ndarray:
        """Per group: whether its largest print carries DECIDING_SHARE of its contract's dealer volume squared."""
        return self._dominant(np.ones(self.counts.size, dtype=bool), DECIDING_SHARE)

    def _block_groups(self, face: np.ndarray) -> np.ndarray:
        """Per group: whether its largest print is a block (BLOCK_SHARE of its contract's face-value variance)."""
        return self._dominant(face, BLOCK_SHARE)

    def _dominant(self, among: np.ndarray, share: float) -> np.ndarray:
        """Per group of ``among``: whether its largest print carries ``share`` of the dealer volume squared of its
        contract's ``among`` groups."""
        squares = np.where(among, self.size_square_sum * self.dealer ** 2, 0.0)
        largest = np.where(among, (self.size_max * self.dealer) ** 2, 0.0)
        return (largest > 0) & (largest >= share * self._per_contract(squares)[self.contract])

    def _blocks(self, blocks: np.ndarray, p_buy: np.ndarray) -> pl.DataFrame:
        """``ticker, block_flows``: each contract's blocks' expected dealer flows (a list; no row without one)."""
        flow = self._dealer_flow(p_buy, self.size_max)
        return (pl.DataFrame({"ticker": self.groups["ticker"].filter(pl.Series(blocks)), BLOCK_FLOWS: flow[blocks]})
                .group_by("ticker", maintain_order=True).agg(pl.col(BLOCK_FLOWS)))

    def _face_value_flows(self, face: np.ndarray, p_buy: np.ndarray) -> dict[str, np.ndarray]:
        """Per contract, the expected dealer flow of face-value votes outside the reference, by the band's prior:
        ``size_match_flow`` (size-matched touch prints: either side, the GSU trade-size rule) and
        ``unsure_flow`` (stale quotes, inside, multi-leg and auction prints: the quote's side, by an unknown
        amount). Zero where the data identified the stratum."""
        flow = self._dealer_flow(p_buy, self.size_sum)
        outside = face & ~self._is_reference()
        masks = (outside & (self.kind == "size_match"), outside & (self.kind != "size_match"))
        return {name: self._per_contract(np.where(mask, flow, 0.0)) for name, mask in zip(FACE_VALUE_FLOWS, masks)}

    def _lean_columns(self, face: np.ndarray, p_buy: np.ndarray) -> dict[str, np.ndarray]:
        """Per contract, LEAN_COLUMNS: the reference votes' sum of vote x w and of w, w = size x p_dealer (structural
        leans included: they set a scale, not a direction), the dealer volume left unsigned (size (1 - |2p - 1|)
        per print) and the dealer volume read at face value."""
        volume = self.size_sum * self.dealer
        reference = self._is_reference()
        per_group = (np.where(reference, self.votes[:, 0] * volume, 0.0), np.where(reference, volume, 0.0),
                     volume * (1.0 - np.abs(2 * p_buy - 1)), np.where(face, volume, 0.0))
        return {name: self._per_contract(values) for name, values in zip(LEAN_COLUMNS, per_group)}

    def _face_value_variance(self, face: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        """Per contract: FACE_VALUE_VARIANCE x sum(size^2 q^2) over the quote votes taken at face value, blocks
        left out (the draws take them right or wrong whole)."""
        squares = self.size_square_sum - np.where(blocks, self.size_max ** 2, 0.0)
        return self._per_contract(np.where(face, FACE_VALUE_VARIANCE * squares * self.dealer ** 2, 0.0))


@dataclass(frozen=True)
class _ContractPairs:
    """Each group's place among the contracts of its direction unit and the window's days, for cross-day vote pairs
    between any two contracts of a unit (dense: units x the most contracts a unit has x days)."""

    place: tuple[np.ndarray, np.ndarray, np.ndarray]  # per group: its unit, its contract's slot in the unit, its day
    shape: tuple[int, int, int]

    @classmethod
    def of(cls, groups: pl.DataFrame, unit: np.ndarray, contract: np.ndarray,
           unit_starts: np.ndarray) -> _ContractPairs:
        """``unit`` and ``contract`` ids per group, units and their contracts contiguous (``unit_starts``: each
        unit's first group)."""
        slot = contract - contract[unit_starts][unit]
        day = groups.select(pl.struct("date").rank("dense") - 1).to_series().to_numpy().astype(np.int64)
        shape = tuple(int(ids.max()) + 1 if ids.size else 0 for ids in (unit, slot, day))
        return cls((unit, slot, day), shape)

    def day_sums(self, mask: np.ndarray, vote: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per unit, contract slot and day: the sum of the selected votes and their number (floats even when nothing
        is selected, where NumPy's bincount returns integers)."""
        cell = np.ravel_multi_index(tuple(part[mask] for part in self.place), self.shape)
        size = int(np.prod(self.shape))

        def summed(weights: np.ndarray) -> np.ndarray:
            return np.bincount(cell, weights[mask], minlength=size).astype(np.float64).reshape(self.shape)

        return summed(vote * counts), summed(counts)

    @staticmethod
    def cross_day(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per unit and two contract slots (a's votes in the first, b's in the second): the sum of vote products and
        the number of pairs, over pairs from different days (all pairs less the same day's)."""

        def different_days(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return x.sum(axis=2)[:, :, None] * y.sum(axis=2)[:, None, :] - x @ y.transpose(0, 2, 1)

        return different_days(a[0], b[0]), different_days(a[1], b[1])


@dataclass(frozen=True)
class _Ratio:
    """A ratio of sums over direction units (numerator / denominator) and its bootstrap standard error."""

    estimate: float
    error: float

    @classmethod
    def of(cls, numerator: np.ndarray, denominator: np.ndarray, weights: np.ndarray) -> _Ratio:
        """sum(numerator) / sum(denominator), and the sd of the same ratio under reweighted units."""
        total = float(denominator.sum())
        if total <= 0:
            return cls(0.0, np.inf)
        drawn = np.divide(weights @ numerator, weights @ denominator, out=np.zeros(weights.shape[0]),
                          where=(weights @ denominator) > 0)
        return cls(float(numerator.sum()) / total, float(drawn.std()))

    def shrunk(self, prior: float, z: float) -> float:
        """The estimate pulled towards ``prior``: moved by the share 1 - (z error / distance)^2 of the way (none when
        it is within ``z`` standard errors of the prior), kept in [-1, 1]."""
        distance = self.estimate - prior
        if not np.isfinite(self.error) or distance == 0:
            return prior
        share = max(0.0, 1.0 - (z * self.error / distance) ** 2)
        return float(np.clip(prior + share * distance, -1.0, 1.0))


def gate_z(estimates: int) -> float:
    """The standard errors an estimate must stand out by to move, when a fit makes ``estimates`` of them: the
    two-sided Bonferroni bound at FAMILY_ALPHA (2.8 for 10, 3.1 for 25)."""
    return float(norm.ppf(1.0 - FAMILY_ALPHA / (2.0 * max(estimates, 1))))


def _accuracy(reliability: float | np.ndarray) -> np.ndarray:
    """A reliability r = 2a - 1 as an accuracy a, kept off 0 and 1 (logarithms stay finite)."""
    return np.clip((1.0 + np.asarray(reliability)) / 2.0, ACCURACY_MARGIN, 1 - ACCURACY_MARGIN)


def _spread_ticks(groups: pl.DataFrame) -> pl.Expr:
    """The groups' spread width class; evidence stored before widths were kept is one class (0)."""
    if SPREAD_TICKS not in groups.columns:
        return pl.lit(0, dtype=pl.Int8).alias(SPREAD_TICKS)
    return pl.col(SPREAD_TICKS).fill_null(0)


def _beta_prior(variance: float) -> tuple[float, float]:
    """Beta(alpha, alpha) of the book direction mu with Var(2 mu - 1) = variance (the reference votes' cross-day
    covariance), centred on 1/2: the votes' book-wide mean also holds where resting orders sit and how stale quotes
    drift, so it does not say which way the book leans (the band draws that lean either way)."""
    spread = min(variance / 4.0, 0.999 * 0.25)  # Var(mu), below its Bernoulli maximum 1/4
    concentration = float(np.clip(0.25 / spread - 1, 0.2, 2 * NO_DIRECTION))
    return concentration / 2, concentration / 2


def _logsumexp(values: np.ndarray, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
    """log(sum(exp(values))) along an axis, shifted by the maximum (NumPy's logaddexp.reduce is ~20x slower)."""
    peak = np.max(values, axis=axis, keepdims=True)
    total = np.log(np.sum(np.exp(values - peak), axis=axis, keepdims=True)) + peak
    return total if keepdims else np.squeeze(total, axis=axis)


def _run_ids(sorted_keys: pl.Series) -> np.ndarray:
    """0, 1, 2, ... for the runs of equal values of a sorted column."""
    return ((sorted_keys != sorted_keys.shift(1)).fill_null(True).cum_sum() - 1).to_numpy().astype(np.int64)


def _run_starts(sorted_ids: np.ndarray) -> np.ndarray:
    """Index of the first element of each run of equal ids."""
    return np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]) if sorted_ids.size else sorted_ids


def _vote_likelihood(vote: np.ndarray, accuracy: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(vote | buy), P(vote | sell) for a signal right with probability ``accuracy`` (abstention: 1, 1)."""
    plus = np.where(vote > 0, accuracy, np.where(vote < 0, 1 - accuracy, 1.0))
    minus = np.where(vote < 0, accuracy, np.where(vote > 0, 1 - accuracy, 1.0))
    return plus, minus
