"""Dataset version N+1: the parent's inputs plus what production has seen since (the feedback
database's scoring log and labels known at the cut-off), through the same Beam dataset pipeline.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from beam_pipelines.dataset import DatasetJob
from fraudops import datasets
from fraudops.invalid_rows import policy_of
from fraudops.settings import CoreSettings

INPUTS = "inputs"  # <datasets>/inputs/<digest>/: immutable feedback exports


def parent_inputs(root: Path, manifest: dict[str, Any]) -> tuple[list[str], list[str], int | None]:
    """(history patterns, label patterns, label delay) the parent was built from, without its
    feedback export (the new export holds everything that one did, and more)."""
    inputs = manifest.get("inputs")
    if inputs is None:  # versions built before inputs were recorded
        if not manifest.get("history"):
            raise datasets.DatasetError(
                "the parent version records no inputs: build the next one with --history/--labels"
            )
        labels = str(manifest.get("labels") or "")
        from_history = labels.startswith("history is_fraud") or not labels
        inputs = {
            "history": [manifest["history"]],
            "labels": [] if from_history else [labels],
            "label_delay_days": 7 if from_history else None,
        }
    exports = str((root / INPUTS).resolve())

    def own(path: str) -> bool:
        return not os.path.abspath(path).startswith(exports + os.sep)

    return ([p for p in inputs["history"] if own(p)], [p for p in inputs["labels"] if own(p)],
            inputs["label_delay_days"])  # fmt: skip


def next_version_job(
    root: Path,
    parent: str | None,
    database_url: str | None,
    cutoff: int | None,
    shards: int,
    command: str,
    dead_letter: str | None = None,
) -> DatasetJob:
    from beam_pipelines.commands import erasure_ledger
    from services.feedback.export import export_inputs

    parent = parent or datasets.latest_version(root)
    if parent is None:
        raise datasets.DatasetError(f"{root}: no dataset version yet; build v1 from a history")
    manifest = datasets.read_manifest(root, parent)
    history, labels, delay = parent_inputs(root, manifest)
    now = cutoff if cutoff is not None else int(datetime.now(UTC).timestamp())
    since = manifest.get("label_cutoff")
    database_url = database_url or CoreSettings().database_url
    export = export_inputs(
        database_url,
        root / INPUTS,
        datetime.fromtimestamp(now, UTC),
        datetime.fromtimestamp(since, UTC) if since is not None else None,
    )
    return DatasetJob(
        history=(*history, str(export.history)),
        out=root,
        labels=(*labels, str(export.labels)),
        label_delay_days=delay,
        label_cutoff=now,
        shards=shards,
        parent=parent,
        command=command,
        dead_letter=dead_letter,
        erased=erasure_ledger(database_url),
        invalid=policy_of(manifest),  # the parent's inputs were accepted under it
        extra_manifest=(
            ("feedback", {
                "scored_transactions": export.transactions,
                "label_changes": export.label_changes,
                "new_label_events": export.new_label_events,
                "export": str(export.history.parent),
            }),
        ),
    )  # fmt: skip
