"""Reading histories and labels into validated DataFrame chunks; bad rows to a dead-letter output.

Elements are DataFrame chunks (tens of thousands of rows), not single rows: Beam's per-element cost
then vanishes next to the work, on the DirectRunner and on a cluster alike. A read is ``splits``
elements from the start (Parquet: a row range of every file each; CSV: whole files, round robin),
so it is parallel on any runner, the DaskRunner included (its parallelism starts at a Create).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pandas as pd
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from beam_pipelines.outputs import Outputs, split, tagged_count
from fraudops.readers import validate_history, validate_labels

DEAD_LETTER = "dead_letter"
WILDCARDS = "*?["


def _parquet_range(
    path: str, part: int, parts: int, chunk_rows: int
) -> Iterator[tuple[int, pd.DataFrame]]:
    """(first row number, rows) of the ``part``-th of ``parts`` row ranges of a Parquet file."""
    with FileSystems.open(path) as handle:
        pf = pq.ParquetFile(handle)
        n = pf.metadata.num_rows
        lo, hi = n * part // parts, n * (part + 1) // parts
        if lo >= hi:
            return
        groups, start, first = [], 0, None
        for g in range(pf.metadata.num_row_groups):
            rows = pf.metadata.row_group(g).num_rows
            if start < hi and start + rows > lo:
                groups.append(g)
                first = start if first is None else first
            start += rows
        pos = first or 0
        for batch in pf.iter_batches(batch_size=chunk_rows, row_groups=groups):
            b_lo, pos = pos, pos + batch.num_rows
            s, e = max(lo, b_lo), min(hi, pos)
            if s < e:
                yield s, batch.slice(s - b_lo, e - s).to_pandas()


def _csv(path: str, chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    with FileSystems.open(path) as handle:
        offset = 0
        for chunk in pd.read_csv(handle, dtype=str, keep_default_na=False, na_values=[""],
                                 chunksize=chunk_rows):  # fmt: skip
            yield offset, chunk
            offset += len(chunk)


def _chunks(
    paths: list[str], part: int, parts: int, chunk_rows: int
) -> Iterator[tuple[str, int, pd.DataFrame]]:
    for i, path in enumerate(paths):
        lower = path.lower()
        if lower.endswith((".parquet", ".pq")):
            for offset, chunk in _parquet_range(path, part, parts, chunk_rows):
                yield path, offset, chunk
        elif lower.endswith((".csv", ".csv.gz")):
            if i % parts == part:  # CSV has no row index to seek: whole files, round robin
                for offset, chunk in _csv(path, chunk_rows):
                    yield path, offset, chunk
        else:
            raise ValueError(f"{path}: unknown format (expected .parquet, .pq, .csv, .csv.gz)")


def matched(pattern: str) -> list[str]:
    """The files of ``pattern``, sorted; none is an error unless it is a glob."""
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    if not paths and not any(c in pattern for c in WILDCARDS):
        raise FileNotFoundError(f"{pattern}: no such file")
    return paths


class _ReadValidated(beam.DoFn):
    def __init__(self, kind: str, pattern: str, parts: int, chunk_rows: int) -> None:
        self.kind, self.pattern, self.parts, self.chunk_rows = kind, pattern, parts, chunk_rows

    def process(self, part: int) -> Iterator[Any]:
        validate = validate_history if self.kind == "history" else validate_labels
        read = invalid = 0
        for path, offset, chunk in _chunks(matched(self.pattern), part, self.parts,
                                           self.chunk_rows):  # fmt: skip
            chunk.index = pd.RangeIndex(offset, offset + len(chunk))
            good, bad = validate(chunk, path, on_error="split")
            bad["row"] = bad["row"] + offset
            read += len(chunk)
            invalid += len(bad)
            for record in bad.astype(str).to_dict("records"):
                yield beam.pvalue.TaggedOutput(
                    DEAD_LETTER, {"source": path, "kind": self.kind, **record}
                )
            if len(good):
                yield good
        yield tagged_count(f"{self.kind}.rows_read", read)
        yield tagged_count(f"{self.kind}.rows_invalid", invalid)


class _ReadFiles(beam.PTransform[beam.pvalue.PBegin, Outputs]):
    """-> ``rows`` (chunks), ``dead_letter`` (invalid rows) and ``counts`` (rows read/invalid)."""

    kind = ""

    def __init__(self, pattern: str, chunk_rows: int = 50_000, splits: int = 8) -> None:
        super().__init__()
        self.pattern, self.chunk_rows, self.splits = pattern, chunk_rows, splits

    def expand(self, pbegin: beam.pvalue.PBegin) -> Outputs:
        parts = pbegin | "Splits" >> beam.Create(list(range(self.splits)))
        fn = _ReadValidated(self.kind, self.pattern, self.splits, self.chunk_rows)
        return split(parts, "ReadValidate", fn, (DEAD_LETTER, "counts"), main="rows")


class ReadHistory(_ReadFiles):
    """File pattern -> validated canonical DataFrame chunks (rows) + dead-letter rows + counts."""

    kind = "history"


class ReadLabels(_ReadFiles):
    """File pattern -> validated label-event chunks (transaction_id, is_fraud, arrival_ts, ...)."""

    kind = "labels"
