"""The Kubernetes and Celery deployment configs in deploy/ validate against Dagster's own schemas (not deployed),
through Dagster's public API only: ``validate_run_config`` of a job whose op takes the launcher's config schema."""

from pathlib import Path

import dagster as dg
import pytest
import yaml

from spy_gamma.definitions import defs
from spy_gamma.defs.jobs import daily_job

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
ENV = {"DAGSTER_PG_HOST": "postgres", "DAGSTER_PG_USERNAME": "dagster", "DAGSTER_PG_PASSWORD": "x",
       "SPY_GAMMA_LOG_BUCKET": "logs", "SPY_GAMMA_CELERY_BROKER": "pyamqp://guest@rabbitmq//",
       "SPY_GAMMA_CELERY_BACKEND": "rpc://"}


@pytest.fixture(autouse=True)
def deploy_env(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def test_k8s_instance_config_validates_and_its_launcher_config_too():
    from dagster_k8s import K8sRunLauncher

    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")

    @dg.op(config_schema=K8sRunLauncher.config_type())
    def launcher_settings(context) -> None:
        """Holds the launcher's config schema so Dagster validates the deploy file against it."""

    job = dg.GraphDefinition("launcher", node_defs=[launcher_settings]).to_job()
    validated = dg.validate_run_config(job, {"ops": {"launcher_settings": {"config": launcher["config"]}}})
    assert "SPY_GAMMA_SOURCE=s3" in validated["ops"]["launcher_settings"]["config"]["env_vars"]
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"ops": {"launcher_settings": {"config": {**launcher["config"], "no_such_key": 1}}}})


@pytest.mark.parametrize(("executor", "run_config_file"), [("k8s", "run_config.yaml"), ("celery", "celery_run_config.yaml")])
def test_run_config_validates_for_the_daily_job(executor, run_config_file):
    if executor == "k8s":
        from dagster_k8s import k8s_job_executor as executor_def
    else:
        from dagster_celery import celery_executor as executor_def
    job = dg.define_asset_job("daily_on_cluster", selection=daily_job.selection, executor_def=executor_def)
    job_def = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("daily_on_cluster")
    run_config = yaml.safe_load((DEPLOY / run_config_file).read_text())
    validated = dg.validate_run_config(job_def, run_config)   # raises DagsterInvalidConfigError on a bad key
    (engine,) = validated["execution"].values()  # the executor's config with Dagster's defaults filled in
    assert set(run_config["execution"]["config"]) <= set(engine)
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job_def, {**run_config, "execution": {"config": {"no_such_key": 1}}})
