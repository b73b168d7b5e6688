"""How the demo talks to the newcomer: a line per step (with its time) and progress bars, on
stderr so the summary table on stdout stays clean."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """Announce a step, and tick it off with its duration once it succeeded."""
    started = time.monotonic()
    console.print(f"[bold cyan]▶[/] {title} …")
    yield
    console.print(f"  [green]✓[/] {title} [dim]({time.monotonic() - started:.1f} s)[/]")


def bar(label: str, total: int) -> Progress:
    p = Progress(
        TextColumn(f"  {label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    p.add_task(label, total=total)
    return p


def ticks(progress: Progress) -> Callable[[int], None]:
    """A callback that advances the bar by the number of calls just done."""
    return lambda n: progress.advance(progress.task_ids[0], n)
