"""Training runs also go to MLflow when ``MLFLOW_TRACKING_URI`` is set, for teams that already
look there (extra ``mlflow``: mlflow-skinny). A tracking server that is down or misconfigured
never fails a training run: the experiment record says what happened."""

from __future__ import annotations

import time
from typing import Any

from models.experiments import flatten
from models.settings import ModelSettings


def log_run(entry: dict[str, Any], curves: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """{"run_id": ...} of the MLflow run, {"error": ...}, or {} when MLflow is not configured."""
    settings = ModelSettings()
    if not settings.mlflow_tracking_uri:
        return {}
    try:
        import mlflow
        from mlflow.entities import Metric

        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        mlflow.set_experiment(settings.mlflow_experiment_name)
        with mlflow.start_run(run_name=entry["model_version"]) as run:
            params = flatten({"config": entry["config"], "dataset": entry["dataset"]})
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.set_tags({"model_version": entry["model_version"], "command": entry["command"]})
            final = {k: float(v) for k, v in entry["metrics"].items() if v is not None}
            final |= {k: float(entry[k]) for k in ("wall_s", "cpu_s", "peak_rss_mb")}
            mlflow.log_metrics(final)
            now = int(time.time() * 1000)
            series = [Metric(f"{side}.{name}", float(v), now, step)
                      for side, metrics in curves.items() for name, values in metrics.items()
                      for step, v in enumerate(values)]  # fmt: skip
            client = mlflow.tracking.MlflowClient()
            for i in range(0, len(series), 1000):
                client.log_batch(run.info.run_id, metrics=series[i : i + 1000])
            mlflow.log_dict(entry, "experiment.json")
            return {"run_id": run.info.run_id}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
