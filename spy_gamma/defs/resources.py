"""Dagster resources: the lake, where flat files come from, and the market constants (rate, dividend yield).

Built from :class:`spy_gamma.settings.Settings` in ``definitions.build_defs``; no field default reads the
environment, so a data dir chosen at run time reaches every resource.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
from filelock import FileLock

from spy_gamma.lake import Lake
from spy_gamma.settings import (
    DEFAULT_DIVIDEND_YIELD,
    DEFAULT_RATE,
    SIM_END,
    SIM_START,
    Settings,
    simulated_sessions,
)
from spy_gamma.trading_calendar import trading_days


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake and DuckDB catalog under ``data_dir``."""

    data_dir: str

    @property
    def lake(self) -> Lake:
        return Lake(Path(self.data_dir))


class MarketSettings(dg.ConfigurableResource):
    """Market constants of the analysis: continuous rate, and the dividend yield used only where no forward quotes."""

    rate: float = DEFAULT_RATE
    dividend_yield: float = DEFAULT_DIVIDEND_YIELD


class FlatFilesResource(dg.ConfigurableResource):
    """Polygon-layout flat files: the embedded simulated market, a local directory, or Polygon's S3 bucket."""

    source: str
    root: str
    s3_endpoint: str = "https://files.massive.com"
    s3_bucket: str = "flatfiles"
    simulation_seed: int = 7
    simulation_scale: float = 0.01
    simulation_start: str = SIM_START.isoformat()
    simulation_end: str = SIM_END.isoformat()

    def open(self):
        """The :class:`FlatFileSource` of this configuration; the simulated market is built on first use."""
        from spy_gamma.sources.flatfiles import LocalFlatFiles, S3FlatFiles

        if self.source == "s3":
            return S3FlatFiles(client=self._s3_client(), bucket=self.s3_bucket, cache_dir=Path(self.root))
        if self.source == "simulated":
            self.ensure_simulated(dt.date.fromisoformat(self.simulation_start),
                                  dt.date.fromisoformat(self.simulation_end))
        return LocalFlatFiles(Path(self.root))

    def ensure_simulated(self, start: dt.date, end: dt.date) -> Path:
        """Simulate the embedded market over at least [start, end] (a lock keeps parallel runs from racing).

        The market is regenerated over the union of what exists and what is asked; the same seed gives the same
        files for sessions already written, since each session's draws depend only on the seed and its date.
        """
        from spy_gamma.sources.simulator import simulate_market

        root = Path(self.root)
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / ".simulate.lock"), timeout=1800):
            written = simulated_sessions(root)
            wanted = trading_days(start, end)
            if written and set(wanted) <= set(written):
                return root
            first = min([start, *written[:1]])
            last = max([end, *written[-1:]])
            simulate_market(first, last, root, seed=self.simulation_seed, scale=self.simulation_scale)
        return root

    def _s3_client(self):
        import os

        from dagster_aws.s3 import S3Resource

        return S3Resource(endpoint_url=self.s3_endpoint,
                          aws_access_key_id=os.environ.get("POLYGON_S3_ACCESS_KEY"),
                          aws_secret_access_key=os.environ.get("POLYGON_S3_SECRET_KEY")).get_client()


def resources_for(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources every asset, check, schedule and sensor uses, from one :class:`Settings`."""
    return {
        "lake": LakeResource(data_dir=str(settings.data_dir)),
        "flatfiles": FlatFilesResource(
            source=settings.source, root=str(settings.local_root), simulation_seed=settings.sim_seed,
            simulation_scale=settings.sim_scale, simulation_start=settings.sim_start.isoformat(),
            simulation_end=settings.sim_end.isoformat()),
        "market": MarketSettings(rate=settings.rate, dividend_yield=settings.dividend_yield),
    }
