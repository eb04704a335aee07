"""Dagster resources: the analysis configuration, the lake, and where flat files come from."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg
from filelock import FileLock

from spy_gamma.lake import Lake
from spy_gamma.trading_calendar import analysis_window, last_trading_day

DEFAULT_DATE = "2025-10-05"
DEFAULT_EXPIRIES = ["2025-10-06", "2025-10-08", "2025-10-10"]
SIMULATION_START, SIMULATION_END = "2025-09-05", "2025-10-10"


def default_data_dir() -> str:
    """``SPY_GAMMA_DATA_DIR`` or ``./data``: all state lives there."""
    return os.environ.get("SPY_GAMMA_DATA_DIR", "data")


def default_source() -> str:
    """Polygon S3 when its credentials are set, otherwise the embedded simulated market."""
    if os.environ.get("SPY_GAMMA_SOURCE"):
        return os.environ["SPY_GAMMA_SOURCE"]
    has_s3 = os.environ.get("POLYGON_S3_ACCESS_KEY") and os.environ.get("POLYGON_S3_SECRET_KEY")
    return "s3" if has_s3 else "simulated"


class AnalysisConfig(dg.ConfigurableResource):
    """What to analyse: the date, the target expiries, the window, rates, and the quote-pairing tolerance."""

    analysis_date: str = DEFAULT_DATE
    expiries: list[str] = DEFAULT_EXPIRIES
    window_calendar_days: int = 30
    rate: float = 0.043
    dividend_yield: float = 0.011
    quote_tolerance_ms: int = 1000
    side_rule: str = "default"
    output_dir: str = "reports/spy_gamma_dashboard"
    spot_override: float | None = None

    @classmethod
    def from_env(cls) -> AnalysisConfig:
        """Defaults overridden by ``SPY_GAMMA_DATE`` and ``SPY_GAMMA_EXPIRIES`` (space separated)."""
        expiries = os.environ.get("SPY_GAMMA_EXPIRIES")
        return cls(analysis_date=os.environ.get("SPY_GAMMA_DATE", DEFAULT_DATE),
                   expiries=expiries.split() if expiries else DEFAULT_EXPIRIES)

    @property
    def analysis_day(self) -> dt.date:
        return dt.date.fromisoformat(self.analysis_date)

    @property
    def expiry_dates(self) -> list[dt.date]:
        return sorted(dt.date.fromisoformat(e) for e in self.expiries)

    @property
    def as_of(self) -> dt.date:
        """The close positions are reported at: the last session at or before the analysis date."""
        return last_trading_day(self.analysis_day)

    @property
    def window(self) -> list[dt.date]:
        """Trading days whose flow builds the positions."""
        return analysis_window(self.analysis_day, self.window_calendar_days)


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake and DuckDB catalog under ``data_dir``."""

    data_dir: str = default_data_dir()

    @property
    def lake(self) -> Lake:
        return Lake(Path(self.data_dir))


class FlatFilesResource(dg.ConfigurableResource):
    """Polygon-layout flat files: the simulated market, a local directory, or Polygon's S3 bucket."""

    source: str = default_source()
    root: str = ""
    data_dir: str = default_data_dir()
    s3_endpoint: str = "https://files.massive.com"
    s3_bucket: str = "flatfiles"
    simulation_seed: int = 7
    simulation_scale: float = float(os.environ.get("SPY_GAMMA_SIM_SCALE", "0.01"))

    @property
    def local_root(self) -> Path:
        """Folder holding the files (for S3: the download cache)."""
        if self.root:
            return Path(self.root)
        return Path(self.data_dir) / ("flatfiles" if self.source != "s3" else "s3_cache") / self.source

    def open(self):
        """The :class:`FlatFileSource` for this configuration; simulates the default window on first use."""
        from spy_gamma.sources.flatfiles import LocalFlatFiles, S3FlatFiles

        if self.source == "s3":
            return S3FlatFiles(client=self._s3_client(), bucket=self.s3_bucket, cache_dir=self.local_root)
        if self.source == "simulated":
            self.ensure_simulated()
        return LocalFlatFiles(self.local_root)

    def ensure_simulated(self, start: str = SIMULATION_START, end: str = SIMULATION_END) -> Path:
        """Build the embedded market for [start, end] once (a lock keeps parallel runs from racing)."""
        from spy_gamma.sources.simulator import simulate_market

        root = self.local_root
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / ".simulate.lock"), timeout=1800):
            if not (root / "truth" / "market.json").exists():
                simulate_market(dt.date.fromisoformat(start), dt.date.fromisoformat(end), root,
                                seed=self.simulation_seed, scale=self.simulation_scale)
        return root

    def _s3_client(self):
        from dagster_aws.s3 import S3Resource

        return S3Resource(endpoint_url=self.s3_endpoint,
                          aws_access_key_id=os.environ.get("POLYGON_S3_ACCESS_KEY"),
                          aws_secret_access_key=os.environ.get("POLYGON_S3_SECRET_KEY")).get_client()

