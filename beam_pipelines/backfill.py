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
import pandas as pd
from apache_beam.options.pipeline_options import PipelineOptions

from beam_pipelines import rejected
from beam_pipelines.io import DEAD_LETTER, ReadHistory, ReadLabels
from beam_pipelines.options import finish
from beam_pipelines.outputs import COUNTS, WriteOutcome, as_records, empty, read_outcome
from beam_pipelines.sharding import shard_column
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


def _keyed_by_shard(frame: pd.DataFrame, shards: int) -> tuple[int, pd.DataFrame]:
    """A transaction shard's frame keyed by its shard (to meet the verdict of that shard)."""
    ids = frame["transaction_id"].iloc[:1]
    return (int(shard_column(ids, shards, unique=True)[0]) if len(ids) else 0), frame


def build_backfill_pipeline(p: beam.Pipeline, job: BackfillJob, work: str) -> None:
    """Ends in the outcome (:mod:`beam_pipelines.outputs`): counts and the rejected rows."""
    reads = {"history": p | "ReadHistory" >> ReadHistory(job.history, splits=job.shards)}
    inputs = {"history": reads["history"].rows}
    if job.labels:
        reads["labels"] = p | "ReadLabels" >> ReadLabels(job.labels, splits=job.shards)
        inputs["labels"] = reads["labels"].rows
    else:
        inputs["labels"] = empty(inputs["history"], "NoLabels")
    read_counts = [out[COUNTS] for out in reads.values()] | "ReadCounts" >> beam.Flatten()
    allowed = rejected.verdict(read_counts, job.invalid, job.shards)
    delay = None if job.labels else job.label_delay_days
    # labels that arrived at or after the cut-off are not known yet
    rec = inputs | "Reconcile" >> ReconcileByTransaction(
        job.shards, delay, job.as_of - 1, job.erased
    )
    records = [
        as_records(read_counts, "ReadCountRecords", COUNTS),
        as_records(rec[COUNTS], "ReconcileCountRecords", COUNTS),
        as_records(
            [out[DEAD_LETTER] for out in reads.values()] | "Rejected" >> beam.Flatten(),
            "RejectedRecords",
            "rejected",
        ),
    ]
    for kind in ("customer", "terminal"):
        folded = (rec.transactions, rec.labels) | f"Fold{kind.title()}s" >> FoldEntities(
            kind, job.shards, job.shards, as_of=job.as_of, features=False
        )
        sink = WriteProfiles(job.redis_url, job.config, kind, cluster=job.redis_cluster)
        gated = rejected.gate(f"Gate{kind.title()}s", folded, allowed)
        written = gated | f"Write{kind.title()}s" >> beam.ParDo(sink)
        records.append(as_records(written, f"Write{kind.title()}Records", COUNTS))
    since = job.as_of - job.config.dedup_ttl_s
    keyed = rec.transactions | "KeyMarks" >> beam.Map(_keyed_by_shard, job.shards)
    marks = (
        rejected.gate("GateMarks", keyed, allowed)
        | "MarkFrames" >> beam.Values()
        | "MarkCounted"
        >> beam.ParDo(MarkCounted(job.redis_url, job.config, since, job.as_of, job.redis_cluster))
    )
    records.append(as_records(marks, "MarkRecords", COUNTS))
    _ = tuple(records) | "Outcome" >> WriteOutcome(work)


def run_backfill(job: BackfillJob, options: PipelineOptions) -> dict[str, int]:
    """Run the backfill; returns its counts (``history.rows_read``, ``backfill.redis_commands``,
    ...). Raises InvalidRowsRefused (nothing written to Redis) when the policy refuses the input's
    invalid rows; else they are in ``job.quarantine``."""
    work = Path(tempfile.mkdtemp(prefix="fraudops-backfill-"))
    try:
        p = beam.Pipeline(options=options)
        build_backfill_pipeline(p, job, str(work))
        finish(p.run())
        outcome = read_outcome(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bad = rejected.rejected_frame(outcome.get("rejected"))
    sources = {"history": [job.history], "labels": [job.labels] if job.labels else []}
    rejected.enforce(job.invalid, outcome.counts, bad, sources)
    bad = rejected.without_erased(bad, job.erased)
    if len(bad):
        if job.quarantine is None:
            raise ValueError("a quarantine path is needed to quarantine rows")
        write_quarantine(bad, job.quarantine)
    return outcome.counts
