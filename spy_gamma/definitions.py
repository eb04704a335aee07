"""The one Dagster ``Definitions`` object: every asset, check, schedule and sensor under ``spy_gamma/defs``."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from spy_gamma.defs.resources import AnalysisConfig, FlatFilesResource, LakeResource

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def build_defs(config: AnalysisConfig | None = None, flatfiles: FlatFilesResource | None = None,
               lake: LakeResource | None = None) -> dg.Definitions:
    """Definitions with the given resources (defaults from the environment: ``SPY_GAMMA_*``, Polygon keys)."""
    resources = {"config": config or AnalysisConfig.from_env(), "flatfiles": flatfiles or FlatFilesResource(),
                 "lake": lake or LakeResource()}
    # One process per run: on a 2-core box, a process per asset step costs more in imports than it buys in
    # parallelism (runs already go two at a time); cluster deployments set their executor per job (deploy/).
    return dg.Definitions.merge(dg.load_from_defs_folder(path_within_project=PROJECT_ROOT),
                                dg.Definitions(resources=resources, executor=dg.in_process_executor))


defs = build_defs()
