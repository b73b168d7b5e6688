"""Invalid input rows in the pipelines, under the core's ``--on-invalid`` policy.

The readers (:mod:`beam_pipelines.io`) send every invalid row, with its source file, row number,
original fields and reasons, to their dead-letter output. Here those rows are (1) written as JSON
lines for the command to read back after the run, (2) tallied against the rows read into a
verdict the backfill's Redis writes wait for (so a refused input writes nothing), and (3) checked,
after the run, by :class:`fraudops.invalid_rows.InvalidPolicy` (the one home of the rule), which
refuses or lets the command quarantine them. ``--dead-letter PREFIX`` stays the raw side output of
every rejected record (these rows, duplicate ids across files, labels of unknown transactions).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import apache_beam as beam
import pandas as pd
from apache_beam.pvalue import PCollection
from apache_beam.transforms import combiners

from beam_pipelines.io import DEAD_LETTER
from fraudops.invalid_rows import InvalidPolicy
from fraudops.pseudonyms import ErasedCustomers

KINDS = ("history", "labels")
FILE = "rejected.jsonl"


def write_rejected(dead: list[PCollection[Any]], directory: str) -> None:
    """The readers' dead letters to ``<directory>/rejected.jsonl`` (one file, maybe empty)."""
    _ = (
        dead
        | "RejectedAll" >> beam.Flatten()
        | "RejectedJson" >> beam.Map(json.dumps, default=str)
        | "WriteRejected"
        >> beam.io.WriteToText(
            f"{directory}/rejected", file_name_suffix=".jsonl", shard_name_template=""
        )
    )


def read_rejected(directory: Path) -> pd.DataFrame:
    """The rows :func:`write_rejected` wrote, in (kind, source, row) order; the file is removed."""
    path = directory / FILE
    records = [json.loads(line) for line in path.read_text().splitlines() if line]
    path.unlink()
    if not records:
        return pd.DataFrame(columns=["source", "kind", "row", "error"])
    frame = pd.DataFrame.from_records(records)
    frame["row"] = frame["row"].astype("int64")
    return frame.sort_values(["kind", "source", "row"], ignore_index=True)


def enforce(
    policy: InvalidPolicy,
    counts: Mapping[str, int],
    rejected: pd.DataFrame,
    sources: Mapping[str, Iterable[str]],
) -> None:
    """Refuse (InvalidRowsRefused) unless the policy allows each input kind's invalid share."""
    for kind in KINDS:
        total = counts.get(f"{kind}.rows_read", 0)
        policy.enforce(", ".join(sources.get(kind, ())), total, rejected[rejected["kind"] == kind])


def without_erased(bad: pd.DataFrame, erased: ErasedCustomers | None) -> pd.DataFrame:
    """What may be kept in a quarantine file: no row of an erased customer."""
    if not erased or "customer_id" not in bad.columns:
        return bad
    ids = bad["customer_id"].astype(str).str.strip()
    return bad.loc[~erased.mask(ids)].reset_index(drop=True)


def digest(rejected: pd.DataFrame) -> str | None:
    """What a dataset version's quarantine holds (None: nothing), to tell two builds apart."""
    if rejected.empty:
        return None
    hashes = pd.util.hash_pandas_object(rejected.astype(str), index=False)
    return hashlib.sha256(hashes.to_numpy().tobytes()).hexdigest()


def _add(pairs: Iterable[tuple[int, int]]) -> tuple[int, int]:
    total = invalid = 0
    for t, i in pairs:
        total += t
        invalid += i
    return total, invalid


def _allows(tallies: list[tuple[str, tuple[int, int]]], policy: InvalidPolicy) -> bool:
    return all(policy.allows(total, invalid) for _, (total, invalid) in tallies)


def verdict(reads: Mapping[str, Any], policy: InvalidPolicy) -> Any:
    """A singleton side input: True when every input kind's invalid share is allowed.

    ``reads``: kind -> the reader's outputs (``.rows`` chunks and the dead letters)."""
    tallies = []
    for kind, out in reads.items():
        good = beam.Map(lambda frame, k=kind: (k, (len(frame), 0)))
        bad = beam.Map(lambda _, k=kind: (k, (1, 1)))
        tallies.append(out.rows | f"Tally{kind}Rows" >> good)
        tallies.append(out[DEAD_LETTER] | f"Tally{kind}Bad" >> bad)
    allowed = (
        tallies
        | "TallyAll" >> beam.Flatten()
        | "TallyPerKind" >> beam.CombinePerKey(_add)
        | "Tallies" >> combiners.ToList()
        | "Verdict" >> beam.Map(_allows, policy)
    )
    return beam.pvalue.AsSingleton(allowed)


def gate(label: str, pcoll: PCollection[Any], allowed: Any) -> PCollection[Any]:
    """``pcoll``'s elements if the verdict allows, else none (nothing reaches a sink)."""
    kept: PCollection[Any] = pcoll | label >> beam.Filter(lambda _, ok: ok, allowed)
    return kept
