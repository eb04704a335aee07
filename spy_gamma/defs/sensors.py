"""Poll the source for published sessions not yet in the lake, and let derived partitions follow their inputs."""

import datetime as dt

import dagster as dg

from spy_gamma.defs.jobs import daily_job
from spy_gamma.defs.partitions import trading_days
from spy_gamma.defs.resources import FlatFilesResource, LakeResource

RECENT_SESSIONS = 40  # how far back each tick looks for a session copied or published late


@dg.sensor(job=daily_job, minimum_interval_seconds=900, default_status=dg.DefaultSensorStatus.STOPPED)
def new_flat_files(context: dg.SensorEvaluationContext, flatfiles: FlatFilesResource,
                   lake: LakeResource) -> dg.SensorResult:
    """A run for every recent session whose trades file is published but whose prints are not in the lake."""
    source, store = flatfiles.open(), lake.lake
    today = dt.date.today().isoformat()
    keys = [key for key in trading_days.get_partition_keys() if key <= today][-RECENT_SESSIONS:]
    missing = [key for key in keys if not store.exists("contract_flows", dt.date.fromisoformat(key))
               and source.available("trades", dt.date.fromisoformat(key))]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"files-{key}", partition_key=key,
                                    tags={"spy_gamma/trigger": "new_flat_files"}) for key in missing],
        skip_reason=None if missing else f"every published session of the last {len(keys)} is in the lake")


follow_inputs = dg.AutomationConditionSensorDefinition(
    "follow_inputs", target=dg.AssetSelection.all(), minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Declarative automation: a session's classification re-runs when the next session's open interest "
                "lands, and every as-of analysis re-runs when a session in its window changes.")
