"""Invalid input rows in the pipelines, under the core's ``--on-invalid`` policy.

The readers (:mod:`beam_pipelines.io`) send every invalid row, with its source file, row number,
original fields and reasons, to their dead-letter output. Here those rows are (1) records of the
run's outcome (:mod:`beam_pipelines.outputs`) for the command to read back after the run, (2)
tallied against the rows read into a verdict the backfill's Redis writes wait for (so a refused
input writes nothing), joined to each shard by key, not as a side input, so every runner runs it,
and (3) checked, after the run, by :class:`fraudops.invalid_rows.InvalidPolicy` (the one home of
the rule), which refuses or lets the command quarantine them. ``--dead-letter PREFIX`` stays the
raw record of every rejected record (these rows, duplicate ids across files, labels of unknown
transactions).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import apache_beam as beam
import pandas as pd
from apache_beam.pvalue import PCollection

from fraudops.invalid_rows import InvalidPolicy
from fraudops.pseudonyms import ErasedCustomers

KINDS = ("history", "labels")


def rejected_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The readers' dead letters (outcome records ``rejected``) in (kind, source, row) order."""
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


def _allowed(element: tuple[int, Iterable[tuple[str, int]]], policy: InvalidPolicy) -> bool:
    totals: dict[str, int] = {}
    for name, n in element[1]:
        totals[name] = totals.get(name, 0) + n
    return all(
        policy.allows(totals.get(f"{kind}.rows_read", 0), totals.get(f"{kind}.rows_invalid", 0))
        for kind in KINDS
    )


def verdict(counts: PCollection[Any], policy: InvalidPolicy, shards: int) -> PCollection[Any]:
    """(shard, allowed) for every shard: True when each input kind's invalid share is allowed.

    ``counts``: the readers' (name, n) counts (``<kind>.rows_read``, ``<kind>.rows_invalid``)."""
    out: PCollection[Any] = (
        counts
        | "TallyKey" >> beam.Map(lambda c: (0, c))
        | "TallyAll" >> beam.GroupByKey()
        | "Verdict" >> beam.Map(_allowed, policy)
        | "VerdictToShards" >> beam.FlatMap(lambda ok, n: [(s, ok) for s in range(n)], shards)
    )
    return out


def _pass(element: tuple[int, dict[str, Iterable[Any]]]) -> list[tuple[int, Any]]:
    key, groups = element
    verdicts = list(groups["ok"])
    return [(key, v) for v in groups["items"]] if verdicts and all(verdicts) else []


def gate(label: str, keyed: PCollection[Any], allowed: PCollection[Any]) -> PCollection[Any]:
    """``keyed``'s (shard, value) pairs (shard in range(shards)) if the verdict allows, else
    none (nothing reaches a sink): a join by shard, which every runner runs."""
    kept: PCollection[Any] = (
        {"items": keyed, "ok": allowed}
        | f"{label}Join" >> beam.CoGroupByKey()
        | f"{label}Pass" >> beam.FlatMap(_pass)
    )
    return kept
