"""Runner-agnostic multiple outputs, counts, and the one outcome file a run leaves.

Beam's DaskRunner (2.77) does not keep a ParDo's tagged outputs apart, reports no metrics, and
computes only the branch ending in the last transform applied. So the pipelines use only what
every runner runs the same way: single-output ParDos, GroupByKey, Flatten and Create. A DoFn with
several outputs still yields ``TaggedOutput``s; :func:`split` runs it as one output of
(tag, value) pairs and selects each tag with a FlatMap. Counts the command relies on are
elements (:func:`count`), and everything the command reads after the run (counts, dataset part
summaries, rejected records) flows into :class:`WriteOutcome`, applied last, which writes one JSON
file (temp + rename) that :func:`read_outcome` reads back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput

COUNTS = "counts"
OUTCOME = "outcome.json"


def count(name: str, n: int) -> tuple[str, int]:
    """A count as an element (``namespace.name``, n); also a Beam counter where runners report."""
    namespace, _, short = name.partition(".")
    Metrics.counter(namespace, short).inc(int(n))
    return name, int(n)


def tagged_count(name: str, n: int) -> TaggedOutput[str, tuple[str, int]]:
    return TaggedOutput(COUNTS, count(name, n))


class Outputs(dict[str, PCollection[Any]]):
    """A DoFn's outputs by tag; ``outputs.rows`` and ``outputs["rows"]`` alike."""

    def __getattr__(self, tag: str) -> PCollection[Any]:
        try:
            return self[tag]
        except KeyError:
            raise AttributeError(tag) from None


class _Tagging(beam.DoFn):
    """Runs ``fn`` and turns each output into (tag, value): one output, which every runner keeps."""

    def __init__(self, fn: beam.DoFn, main: str) -> None:
        self.fn, self.main = fn, main

    def setup(self) -> None:
        self.fn.setup()

    def teardown(self) -> None:
        self.fn.teardown()

    def process(self, element: Any) -> Iterator[tuple[str, Any]]:
        for out in self.fn.process(element) or ():
            if isinstance(out, TaggedOutput):
                yield out.tag, out.value
            else:
                yield self.main, out


def _select(pair: tuple[str, Any], tag: str) -> list[Any]:
    return [pair[1]] if pair[0] == tag else []


def split(
    pcoll: PCollection[Any], label: str, fn: beam.DoFn, tags: Sequence[str], main: str
) -> Outputs:
    """``pcoll | ParDo(fn).with_outputs(*tags, main=main)``, the same on every runner."""
    pairs = pcoll | label >> beam.ParDo(_Tagging(fn, main))
    return Outputs(
        {tag: pairs | f"{label}_{tag}" >> beam.FlatMap(_select, tag) for tag in (main, *tags)}
    )


def empty(pcoll: PCollection[Any], label: str) -> PCollection[Any]:
    """An empty PCollection (DaskRunner cannot ``Create([])`` with a partition count)."""
    out: PCollection[Any] = pcoll | label >> beam.FlatMap(lambda _: [])
    return out


def as_records(pcoll: PCollection[Any], label: str, kind: str) -> PCollection[Any]:
    """Elements as (kind, element) outcome records."""
    out: PCollection[Any] = pcoll | label >> beam.Map(lambda v, k: (k, v), kind)
    return out


@dataclass
class Outcome:
    counts: dict[str, int] = field(default_factory=dict)
    records: dict[str, list[Any]] = field(default_factory=dict)

    def get(self, kind: str) -> list[Any]:
        return self.records.get(kind, [])


def _gather(records: Iterable[tuple[str, Any]]) -> Outcome:
    out = Outcome()
    for kind, value in records:
        if kind == COUNTS:
            name, n = value
            out.counts[name] = out.counts.get(name, 0) + int(n)
        else:
            out.records.setdefault(kind, []).append(value)
    return out


class _WriteOutcome(beam.DoFn):
    def __init__(self, directory: str) -> None:
        self.directory = directory

    def process(self, element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterator[str]:
        outcome = _gather(element[1])
        final = FileSystems.join(self.directory, OUTCOME)
        temp = f"{final}.tmp-{uuid.uuid4().hex}"
        body = {"counts": outcome.counts, "records": outcome.records}
        with FileSystems.create(temp) as handle:
            handle.write(json.dumps(body, default=str).encode())
        FileSystems.rename([temp], [final])  # a retried task replaces it whole
        yield final


class WriteOutcome(beam.PTransform[tuple[PCollection[Any], ...], PCollection[Any]]):
    """A tuple of (kind, value) record PCollections (not a list: Beam would Create a list) ->
    ``<directory>/outcome.json``. Apply it LAST: the DaskRunner computes what the last transform
    depends on, and every sink feeds this one."""

    def __init__(self, directory: str) -> None:
        super().__init__()
        self.directory = directory

    def expand(self, records: tuple[PCollection[Any], ...]) -> PCollection[Any]:
        written: PCollection[Any] = (
            list(records)
            | "OutcomeAll" >> beam.Flatten()
            | "OutcomeKey" >> beam.Map(lambda r: (0, r))
            | "OutcomeGroup" >> beam.GroupByKey()
            | "OutcomeWrite" >> beam.ParDo(_WriteOutcome(self.directory))
        )
        return written


def read_outcome(directory: Path) -> Outcome:
    """What :class:`WriteOutcome` wrote; the file is removed (it is no output of the job)."""
    path = directory / OUTCOME
    if not path.exists():
        raise RuntimeError(f"the runner finished without writing {path}: the run lost its outcome")
    body = json.loads(path.read_text())
    path.unlink()
    return Outcome(counts=body["counts"], records=body["records"])
