"""The backfill pipeline: every entity's profile as of a cut-off, written into the Redis store.

Invalid input rows follow the job's ``--on-invalid`` policy: the Redis writes wait for the
verdict on the whole input (:mod:`beam_pipelines.rejected`), so a refused input writes nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineResult

from beam_pipelines import rejected
from beam_pipelines.io import DEAD_LETTER, ReadHistory, ReadLabels
from beam_pipelines.metrics import counters
from beam_pipelines.sinks import MarkCounted, WriteProfiles
from beam_pipelines.transforms import FoldEntities, ReconcileByTransaction
from fraudops.invalid_rows import InvalidPolicy, write_quarantine
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
    invalid: InvalidPolicy = field(default_factory=InvalidPolicy)
    quarantine: Path | None = None  # where quarantined rows go (needed to quarantine any)
    redis_cluster: bool = False  # redis_url names a node of a Redis Cluster


def build_backfill_pipeline(p: beam.Pipeline, job: BackfillJob, rejected_dir: str) -> None:
    reads = {"history": p | "ReadHistory" >> ReadHistory(job.history)}
    inputs = {"history": reads["history"].rows}
    if job.labels:
        reads["labels"] = p | "ReadLabels" >> ReadLabels(job.labels)
        inputs["labels"] = reads["labels"].rows
    else:
        inputs["labels"] = p | "NoLabels" >> beam.Create([])
    rejected.write_rejected([out[DEAD_LETTER] for out in reads.values()], rejected_dir)
    allowed = rejected.verdict(reads, job.invalid)
    delay = None if job.labels else job.label_delay_days
    # labels that arrived at or after the cut-off are not known yet
    rec = inputs | "Reconcile" >> ReconcileByTransaction(
        job.shards, delay, job.as_of - 1, job.erased
    )
    for kind in ("customer", "terminal"):
        folded = (rec.transactions, rec.labels) | f"Fold{kind.title()}s" >> FoldEntities(
            kind, job.shards, job.shards, as_of=job.as_of, features=False
        )
        _ = rejected.gate(f"Gate{kind.title()}s", folded, allowed) | f"Write{kind.title()}s" >> (
            beam.ParDo(WriteProfiles(job.redis_url, job.config, kind, cluster=job.redis_cluster))
        )
    since = job.as_of - job.config.dedup_ttl_s
    _ = rejected.gate("GateMarks", rec.transactions, allowed) | "MarkCounted" >> beam.ParDo(
        MarkCounted(job.redis_url, job.config, since, job.as_of, job.redis_cluster)
    )


def run_backfill(job: BackfillJob, options: PipelineOptions) -> PipelineResult:
    """Run the backfill. Raises InvalidRowsRefused (nothing written to Redis) when the policy
    refuses the input's invalid rows; else they are in ``job.quarantine`` (counters
    ``history.rows_invalid`` and ``labels.rows_invalid`` count them)."""
    work = Path(tempfile.mkdtemp(prefix="fraudops-backfill-"))
    try:
        p = beam.Pipeline(options=options)
        build_backfill_pipeline(p, job, str(work))
        result = p.run()
        result.wait_until_finish()
        bad = rejected.read_rejected(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sources = {"history": [job.history], "labels": [job.labels] if job.labels else []}
    rejected.enforce(job.invalid, counters(result), bad, sources)
    bad = rejected.without_erased(bad, job.erased)
    if len(bad):
        if job.quarantine is None:
            raise ValueError("a quarantine path is needed to quarantine rows")
        write_quarantine(bad, job.quarantine)
    return result
