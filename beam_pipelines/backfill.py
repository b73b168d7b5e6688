"""The backfill pipeline: every entity's profile as of a cut-off, written into the Redis store."""

from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from beam_pipelines.io import ReadHistory, ReadLabels
from beam_pipelines.sinks import MarkCounted, WriteProfiles
from beam_pipelines.transforms import FoldEntities, ReconcileByTransaction
from fraudops.profile_store.commands import StoreConfig
from fraudops.pseudonyms import ErasedCustomers


@dataclass(frozen=True)
class BackfillJob:
    history: str
    redis_url: str
    config: StoreConfig
    as_of: int
    labels: str | None = None
    label_delay_days: int | None = 7
    shards: int = 8
    erased: ErasedCustomers | None = None  # the erasure ledger: no profile is rebuilt for them


def build_backfill_pipeline(p: beam.Pipeline, job: BackfillJob) -> None:
    history = p | "ReadHistory" >> ReadHistory(job.history)
    inputs = {"history": history.rows}
    if job.labels:
        inputs["labels"] = (p | "ReadLabels" >> ReadLabels(job.labels)).rows
    else:
        inputs["labels"] = p | "NoLabels" >> beam.Create([])
    delay = None if job.labels else job.label_delay_days
    # labels that arrived at or after the cut-off are not known yet
    rec = inputs | "Reconcile" >> ReconcileByTransaction(
        job.shards, delay, job.as_of - 1, job.erased
    )
    for kind in ("customer", "terminal"):
        (
            (rec.transactions, rec.labels)
            | f"Fold{kind.title()}s"
            >> FoldEntities(kind, job.shards, job.shards, as_of=job.as_of, features=False)  # type: ignore[arg-type]
            | f"Write{kind.title()}s" >> beam.ParDo(WriteProfiles(job.redis_url, job.config, kind))  # type: ignore[arg-type]
        )
    since = job.as_of - job.config.dedup_ttl_s
    _ = rec.transactions | "MarkCounted" >> beam.ParDo(
        MarkCounted(job.redis_url, job.config, since, job.as_of)
    )


def run_backfill(job: BackfillJob, options: PipelineOptions) -> beam.runners.runner.PipelineResult:
    p = beam.Pipeline(options=options)
    build_backfill_pipeline(p, job)
    result = p.run()
    result.wait_until_finish()
    return result
