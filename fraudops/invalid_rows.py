"""What a command does with the invalid rows of a history: refuse it, or quarantine them and go on.

Every command that reads a history file (``validate``, ``dataset build``, ``backfill``,
``benchmark handbook``) takes the same two options, added by :func:`add_arguments`:

- ``--on-invalid refuse`` (the default): one invalid row refuses the whole input, with a message
  naming the count, the first rows' reasons and ``--on-invalid quarantine``;
- ``--on-invalid quarantine``: the invalid rows are written, with their row number, their original
  fields and the reason (column ``error``), to a quarantine Parquet file (temp + rename), and the
  command goes on with the valid rows, unless more than ``--max-invalid-share`` (default 1 %) of
  the rows are invalid: then it refuses as above.

A missing column is not a row's problem: it refuses the file in both modes. The rules live here
once; the readers (:func:`fraudops.readers.validate_history` with ``on_error="split"``) and the
Beam pipelines' dead-letter output find the invalid rows, this module decides.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import pandas as pd

from fraudops.readers import load_frame, validate_history

OnInvalid = Literal["refuse", "quarantine"]
MODES: tuple[OnInvalid, ...] = ("refuse", "quarantine")
DEFAULT_MAX_SHARE = 0.01
SHOWN = 5  # reasons quoted in a refusal
SUFFIX = ".quarantine.parquet"
GLOB_CHARS = frozenset("*?[")


class InvalidRowsRefused(ValueError):
    """The input has invalid rows and the policy does not allow going on."""


@dataclass(frozen=True)
class InvalidPolicy:
    mode: OnInvalid = "refuse"
    max_share: float = DEFAULT_MAX_SHARE

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"on_invalid must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 0.0 <= self.max_share <= 1.0:
            raise ValueError(f"max invalid share must be within 0..1, got {self.max_share!r}")

    def allows(self, total: int, invalid: int) -> bool:
        """Whether a command may go on with the valid rows of ``total`` of which ``invalid``."""
        if invalid == 0:
            return True
        return self.mode == "quarantine" and invalid <= self.max_share * total

    def enforce(self, source: str, total: int, bad: pd.DataFrame) -> None:
        """Raise :class:`InvalidRowsRefused` naming the problem unless :meth:`allows`.

        ``bad``: the invalid rows, with ``row`` and ``error`` columns (the readers' split)."""
        if self.allows(total, len(bad)):
            return
        share = len(bad) / total if total else 1.0
        head = f"{source}: {len(bad):,} of {total:,} rows invalid ({share:.2%})"
        if self.mode == "quarantine":
            head += f", more than --max-invalid-share {self.max_share:g} allows"
        lines = [_describe(row) for _, row in bad.head(SHOWN).iterrows()]
        more = [f"... and {len(bad) - SHOWN:,} more"] if len(bad) > SHOWN else []
        hint = (
            "nothing was written. To go on with the valid rows and keep the invalid ones with "
            "their reasons in a quarantine file: --on-invalid quarantine "
            f"(still refused above --max-invalid-share {self.max_share:g})"
            if self.mode == "refuse"
            else "nothing was written; fix the input or raise --max-invalid-share"
        )
        raise InvalidRowsRefused("\n  ".join([head, *lines, *more, hint]))


def _describe(row: pd.Series) -> str:
    """``row 2, field 'amount': not a number (got 'abc')``, from a row of the readers' split."""
    parts = []
    for reason in str(row["error"]).split("; "):
        field, _, message = reason.partition(": ")
        value = row.get(field)
        known = message != "missing" and value is not None and not pd.isna(value)
        got = f" (got {str(value)[:40]!r})" if known else ""
        parts.append(f"field {field!r}: {message}{got}")
    return f"row {row['row']}, " + "; ".join(parts)


def add_arguments(p: argparse.ArgumentParser, where: str, path_option: bool = True) -> None:
    """``--on-invalid``, ``--max-invalid-share`` and (``path_option``) ``--quarantine PATH``;
    ``where``: the quarantine file's default place, for the help."""
    p.add_argument(
        "--on-invalid",
        choices=MODES,
        help="invalid rows: refuse the input (default), or quarantine them (with their reasons, "
        f"in {where}) and go on with the valid rows",
    )
    p.add_argument(
        "--max-invalid-share",
        type=_share,
        help="quarantine: refuse all the same above this share of invalid rows (default 0.01)",
    )
    if path_option:
        p.add_argument("--quarantine", type=Path, help=f"quarantine file (default: {where})")


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a share within 0..1 (0.01 = 1 %), got {text!r}")
    return value


def policy_from(args: argparse.Namespace, default: InvalidPolicy | None = None) -> InvalidPolicy:
    """The options given, the rest from ``default`` (refuse, 0.01 unless said otherwise)."""
    base = default or InvalidPolicy()
    mode = cast(OnInvalid, args.on_invalid or base.mode)
    share = base.max_share if args.max_invalid_share is None else args.max_invalid_share
    return InvalidPolicy(mode, float(share))


def policy_of(manifest: dict[str, Any]) -> InvalidPolicy:
    """The policy a dataset version was built with (refuse for one built before the option): a
    next version of the same inputs keeps it."""
    recorded = manifest.get("invalid_rows") or {}
    return InvalidPolicy(
        cast(OnInvalid, recorded.get("on_invalid", "refuse")),
        float(recorded.get("max_invalid_share", DEFAULT_MAX_SHARE)),
    )


def beside(path: str | Path) -> Path:
    """The default quarantine file of one input file: ``<input>.quarantine.parquet``."""
    text = str(path)
    if GLOB_CHARS & set(text):
        raise ValueError(f"{text}: a pattern has no one place beside it; give --quarantine PATH")
    return Path(text + SUFFIX)


def write_quarantine(bad: pd.DataFrame, path: Path) -> Path:
    """Invalid rows (row number, original fields, ``error``) to Parquet, atomically."""
    from fraudops.commands.simulate import write_frame

    frame = bad.copy()
    for col in frame.columns:  # original values as read; a column may mix types: keep as text
        if frame[col].dtype == object:
            frame[col] = frame[col].astype("string")
    write_frame(frame, path)
    return path


def split_history(
    df: pd.DataFrame, source: str, policy: InvalidPolicy, quarantine: Path | None
) -> tuple[pd.DataFrame, int]:
    """The valid rows of a history frame under ``policy``, and how many were quarantined
    (written to ``quarantine``, which must be given when the policy may quarantine)."""
    good, bad = validate_history(df, source, on_error="split")
    policy.enforce(source, len(df), bad)
    if len(bad):
        if quarantine is None:
            raise ValueError("a quarantine path is needed to quarantine rows")
        write_quarantine(bad, quarantine)
    return good, len(bad)


def read_history_checked(
    path: str | Path, policy: InvalidPolicy, quarantine: Path | None = None
) -> tuple[pd.DataFrame, int, Path | None]:
    """Read a history file under ``policy``: its valid rows, the number quarantined and where
    (``quarantine``, by default beside the input)."""
    p = Path(path)
    target = quarantine or (beside(p) if policy.mode == "quarantine" else None)
    good, quarantined = split_history(load_frame(p), str(p), policy, target)
    return good, quarantined, target if quarantined else None
