"""The one Dagster ``Definitions`` object: every asset, check, job, schedule and sensor under ``spy_gamma/defs``."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from spy_gamma.defs.resources import resources_for
from spy_gamma.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def build_defs(settings: Settings | None = None) -> dg.Definitions:
    """Definitions with resources from ``settings`` (default: the environment, ``SPY_GAMMA_*``)."""
    resources = resources_for(settings or Settings.from_env())
    # One process per run: on a 2-core box, a process per asset step costs more in imports than it buys in
    # parallelism (each step already works two sessions at a time); cluster deployments set theirs (deploy/).
    return dg.Definitions.merge(dg.load_from_defs_folder(path_within_project=PROJECT_ROOT),
                                dg.Definitions(resources=resources, executor=dg.in_process_executor))


defs = build_defs()
