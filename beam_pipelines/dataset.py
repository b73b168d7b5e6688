"""The dataset pipeline: point-in-time feature rows for every transaction, as a new dataset version.

Every row's features use only what was known strictly before its transaction: earlier
transactions of its customer and terminal and labels that had ARRIVED. The rows are written as
Parquet parts into a staging directory, which is published as the next immutable version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import apache_beam as beam
import pandas as pd
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pvalue import PCollection

from beam_pipelines import rejected
from beam_pipelines.io import DEAD_LETTER, ReadHistory, ReadLabels
from beam_pipelines.options import finish
from beam_pipelines.outputs import COUNTS, WriteOutcome, as_records, empty, read_outcome
from beam_pipelines.sharding import split_frame
from beam_pipelines.sinks import WriteDatasetParts
from beam_pipelines.transforms import AssembleRows, FoldEntities, ReconcileByTransaction
from fraudops import datasets
from fraudops.features import FINGERPRINT, contract_fields
from fraudops.invalid_rows import InvalidPolicy, write_quarantine
from fraudops.pseudonyms import ErasedCustomers

QUARANTINE = "quarantine.parquet"  # in the version directory: the input rows left out as invalid


@dataclass(frozen=True)
class DatasetJob:
    """``history``/``labels``: a file pattern or several. ``label_delay_days``: the history's
    own ``is_fraud`` becomes known that many days after each payment (None: only label files;
    "auto": 7 without label files, else None)."""

    history: str | tuple[str, ...]
    out: Path
    labels: str | tuple[str, ...] | None = None
    label_delay_days: int | Literal["auto"] | None = "auto"
    label_cutoff: int | None = None
    shards: int = 8
    parent: str | None = None
    command: str = ""
    dead_letter: str | None = None
    extra_manifest: tuple[tuple[str, Any], ...] = ()  # e.g. the feedback export's counts
    erased: ErasedCustomers | None = None  # the erasure ledger: these customers are left out
    invalid: InvalidPolicy = field(default_factory=InvalidPolicy)  # --on-invalid

    @property
    def delay(self) -> int | None:
        if self.label_delay_days == "auto":
            return None if self.label_patterns else 7
        return self.label_delay_days

    @property
    def history_patterns(self) -> tuple[str, ...]:
        return (self.history,) if isinstance(self.history, str) else tuple(self.history)

    @property
    def label_patterns(self) -> tuple[str, ...]:
        if self.labels is None:
            return ()
        return (self.labels,) if isinstance(self.labels, str) else tuple(self.labels)


def _read(
    p: beam.Pipeline,
    name: str,
    reader: type[ReadHistory | ReadLabels],
    patterns: tuple[str, ...],
    splits: int,
) -> tuple[PCollection[Any], list[PCollection[Any]], list[PCollection[Any]]]:
    """Rows of every pattern (one PCollection), their dead letters and their counts."""
    outs = [
        p | (name if len(patterns) == 1 else f"{name}{i}") >> reader(pattern, splits=splits)
        for i, pattern in enumerate(patterns)
    ]
    rows = (
        outs[0].rows if len(outs) == 1 else [o.rows for o in outs] | f"{name}All" >> beam.Flatten()
    )
    return rows, [o[DEAD_LETTER] for o in outs], [o[COUNTS] for o in outs]


def build_dataset_pipeline(p: beam.Pipeline, job: DatasetJob, staging: str) -> None:
    """Parquet parts into ``staging``; ends in the outcome (:mod:`beam_pipelines.outputs`): the
    parts' summaries, counts, the rejected rows and the other dead letters."""
    history, rejected_rows, counts = _read(
        p, "ReadHistory", ReadHistory, job.history_patterns, job.shards
    )
    inputs = {"history": history}
    if job.label_patterns:
        inputs["labels"], label_dead, label_counts = _read(
            p, "ReadLabels", ReadLabels, job.label_patterns, job.shards
        )
        rejected_rows += label_dead
        counts += label_counts
    else:
        inputs["labels"] = empty(history, "NoLabels")
    rec = inputs | "Reconcile" >> ReconcileByTransaction(
        job.shards, job.delay, job.label_cutoff, job.erased
    )
    counts.append(rec[COUNTS])
    parts = {
        kind: (rec.transactions, rec.labels)
        | f"Fold{kind.title()}s" >> FoldEntities(kind, job.shards, job.shards)
        for kind in ("customer", "terminal")
    }
    keyed_tx = rec.transactions | "KeyTx" >> beam.FlatMap(split_frame, "transaction_id", job.shards)
    rows = {"tx": keyed_tx, **parts} | "Assemble" >> AssembleRows()
    written = rows | "WriteParts" >> beam.ParDo(WriteDatasetParts(staging))
    records = [
        as_records(written, "SummaryRecords", "summaries"),
        as_records(counts | "AllCounts" >> beam.Flatten(), "CountRecords", COUNTS),
        as_records(rejected_rows | "Rejected" >> beam.Flatten(), "RejectedRecords", "rejected"),
        as_records(rec[DEAD_LETTER], "DeadRecords", "dead"),
    ]
    _ = tuple(records) | "Outcome" >> WriteOutcome(staging)


def _write_dead_letters(prefix: str, records: list[dict[str, Any]]) -> None:
    """Every rejected record as JSON lines (``<prefix>-00000-of-00001.jsonl``)."""
    with FileSystems.create(f"{prefix}-00000-of-00001.jsonl") as handle:
        for record in records:
            handle.write((json.dumps(record, default=str) + "\n").encode())


def run_dataset(job: DatasetJob, options: PipelineOptions) -> tuple[str, dict[str, Any], bool]:
    """Run the pipeline and publish; returns (version, manifest, created)."""
    staging = datasets.new_staging(job.out)
    try:
        p = beam.Pipeline(options=options)
        build_dataset_pipeline(p, job, str(staging))
        finish(p.run())
        outcome = read_outcome(staging)
        counts = outcome.counts
        if job.dead_letter:
            _write_dead_letters(job.dead_letter, outcome.get("rejected") + outcome.get("dead"))
        bad = rejected.rejected_frame(outcome.get("rejected"))
        inputs = {"history": job.history_patterns, "labels": job.label_patterns}
        rejected.enforce(job.invalid, counts, bad, inputs)
        bad = rejected.without_erased(bad, job.erased)
        if len(bad):
            write_quarantine(bad, staging / QUARANTINE)
        expected = counts.get("reconcile.transactions", 0)
        parts = outcome.get("summaries")
        if not parts or sum(p["rows"] for p in parts) == 0:
            raise datasets.DatasetError(
                f"{', '.join(job.history_patterns)}: no valid transactions, nothing to write"
            )
        summary = datasets.combine_summaries(parts)
        if summary["rows"] != expected:  # never publish a dataset the runner lost rows of
            raise datasets.DatasetError(
                f"runner lost rows: {expected:,} reconciled, {summary['rows']:,} written"
            )
        invalid = _describe_invalid(job, bad)
        existing = datasets.find_by_hash(
            job.out, summary["content_hash"], FINGERPRINT, invalid["digest"]
        )
        if existing is not None:
            datasets.discard(staging)
            return existing, datasets.read_manifest(job.out, existing), False
        parent = job.parent if job.parent is not None else datasets.latest_version(job.out)
        manifest = {
            **summary,
            "parent": parent,
            **contract_fields(),
            "target": "is_fraud",
            "labels": _describe_labels(job),
            "label_cutoff": job.label_cutoff,
            "history": job.history if isinstance(job.history, str) else list(job.history),
            "inputs": {
                "history": list(job.history_patterns),
                "labels": list(job.label_patterns),
                "label_delay_days": job.delay,
            },
            **dict(job.extra_manifest),
            "erasures": {
                "customers": len(job.erased or ()),
                "transactions_excluded": counts.get("reconcile.erased_customer_transactions", 0),
            },
            "invalid_rows": invalid,
            "command": job.command,
        }
        version = datasets.publish(job.out, staging, manifest)
        return version, datasets.read_manifest(job.out, version), True
    except BaseException:
        datasets.discard(staging)
        raise


def _describe_invalid(job: DatasetJob, bad: pd.DataFrame) -> dict[str, Any]:
    """The manifest's account of the input rows left out as invalid (``quarantine.parquet``)."""
    kinds = bad["kind"].value_counts()
    return {
        "on_invalid": job.invalid.mode,
        "max_invalid_share": job.invalid.max_share,
        **{kind: int(kinds.get(kind, 0)) for kind in rejected.KINDS},
        "quarantine": QUARANTINE if len(bad) else None,
        "digest": rejected.digest(bad),
    }


def _describe_labels(job: DatasetJob) -> str:
    parts = list(job.label_patterns)
    if job.delay is not None:
        parts.append(f"history is_fraud, known {job.delay} days later")
    return " + ".join(parts) or "none (every transaction legitimate)"
