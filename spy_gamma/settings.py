"""Every setting spy-gamma reads from the environment, evaluated in one place when Definitions are built.

Nothing else reads ``os.environ`` for configuration (credentials are read where they are used, by the sources).
The CLI sets these variables from its flags before Definitions load, so ``--data-dir`` reaches every resource.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

SOURCES = ("simulated", "local", "s3")
SIM_START = dt.date(2025, 9, 2)  # the embedded market's first written session (pre-window inventory before it)
SIM_END = dt.date(2025, 10, 10)
REAL_PARTITIONS_START = dt.date(2024, 1, 2)
DEFAULT_RATE = 0.043  # continuous risk-free rate (roughly 3-month T-bills in late 2025)
DEFAULT_DIVIDEND_YIELD = 0.011  # SPY's trailing dividend yield: only the fallback where no put-call pair quotes
DEFAULT_WINDOW_SESSIONS = 21  # the lookback window: 21 sessions ~ 30 calendar days
DEFAULT_SCHEDULE_CRON = "30 6 * * 1-5"  # 06:30 ET on weekdays: flat files land overnight


@dataclass(frozen=True)
class Settings:
    """Where state lives, where flat files come from, and the market constants the analysis uses."""

    data_dir: Path
    source: str
    flatfiles_root: Path | None = None
    sim_seed: int = 7
    sim_scale: float = 0.01
    sim_start: dt.date = SIM_START
    sim_end: dt.date = SIM_END
    partitions_start: dt.date | None = None
    rate: float = DEFAULT_RATE
    dividend_yield: float = DEFAULT_DIVIDEND_YIELD
    window_sessions: int = DEFAULT_WINDOW_SESSIONS
    schedule_cron: str = DEFAULT_SCHEDULE_CRON  # the morning schedule's, in ET

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """``SPY_GAMMA_*`` variables over the defaults; the simulated range grows to what is already on disk."""
        env = os.environ if environ is None else environ
        settings = cls(
            data_dir=Path(env.get("SPY_GAMMA_DATA_DIR", "data")).resolve(),
            source=env.get("SPY_GAMMA_SOURCE") or default_source(env),
            flatfiles_root=Path(env["SPY_GAMMA_FLATFILES"]).resolve() if env.get("SPY_GAMMA_FLATFILES") else None,
            sim_seed=int(env.get("SPY_GAMMA_SIM_SEED", "7")),
            sim_scale=float(env.get("SPY_GAMMA_SIM_SCALE", "0.01")),
            sim_start=_date(env, "SPY_GAMMA_SIM_START", SIM_START),
            sim_end=_date(env, "SPY_GAMMA_SIM_END", SIM_END),
            partitions_start=_date(env, "SPY_GAMMA_PARTITIONS_START", None),
            rate=float(env.get("SPY_GAMMA_RATE", DEFAULT_RATE)),
            dividend_yield=float(env.get("SPY_GAMMA_DIVIDEND_YIELD", DEFAULT_DIVIDEND_YIELD)),
            window_sessions=int(env.get("SPY_GAMMA_WINDOW_SESSIONS", DEFAULT_WINDOW_SESSIONS)),
            schedule_cron=env.get("SPY_GAMMA_SCHEDULE_CRON", DEFAULT_SCHEDULE_CRON),
        )
        if settings.window_sessions < 1:
            raise ValueError(f"SPY_GAMMA_WINDOW_SESSIONS={settings.window_sessions}: the window needs a session")
        if settings.source not in SOURCES:
            raise ValueError(f"SPY_GAMMA_SOURCE={settings.source!r}: expected one of {', '.join(SOURCES)}")
        return settings.with_simulated_range_on_disk()

    @property
    def local_root(self) -> Path:
        """Folder holding the flat files (for S3: the download cache)."""
        if self.flatfiles_root is not None:
            return self.flatfiles_root
        return self.data_dir / ("s3_cache" if self.source == "s3" else "flatfiles") / self.source

    def with_simulated_range_on_disk(self) -> Settings:
        """The simulated range widened to the sessions an earlier run already wrote (``truth/market.json``)."""
        if self.source != "simulated":
            return self
        written = simulated_sessions(self.local_root)
        if not written:
            return self
        return replace(self, sim_start=min(self.sim_start, written[0]), sim_end=max(self.sim_end, written[-1]))

    @property
    def first_partition(self) -> dt.date:
        """Partitions start where the data starts: the simulated range, the oldest local file, or a set date."""
        if self.partitions_start is not None:
            return self.partitions_start
        if self.source == "simulated":
            return self.sim_start
        if self.source == "local":
            return oldest_trades_file(self.local_root) or REAL_PARTITIONS_START
        return REAL_PARTITIONS_START

    @property
    def last_partition(self) -> dt.date | None:
        """The simulated market ends where it was simulated; real sources grow one session a day (None)."""
        return self.sim_end if self.source == "simulated" else None


def default_source(env) -> str:
    """Polygon S3 when its credentials are set, otherwise the embedded simulated market."""
    has_s3 = env.get("POLYGON_S3_ACCESS_KEY") and env.get("POLYGON_S3_SECRET_KEY")
    return "s3" if has_s3 else "simulated"


def simulated_sessions(root: Path) -> list[dt.date]:
    """Sessions the simulated market under ``root`` holds (empty when none was written yet)."""
    summary = root / "truth" / "market.json"
    if not summary.is_file():
        return []
    return [dt.date.fromisoformat(day) for day in json.loads(summary.read_text())["sessions"]]


def oldest_trades_file(root: Path) -> dt.date | None:
    """The date of the oldest ``trades_v1`` day file under a Polygon-layout root."""
    names = sorted(path.name for path in (root / "us_options_opra" / "trades_v1").glob("*/*/*.csv.gz"))
    return dt.date.fromisoformat(names[0][:10]) if names else None


def _date(env, name: str, default: dt.date | None) -> dt.date | None:
    value = env.get(name)
    if not value:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a date (YYYY-MM-DD)") from None
