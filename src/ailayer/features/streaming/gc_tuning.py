"""Garbage-collector settings for a process that runs stream views.

A stream processor keeps many small, long-lived objects (window state per entity, the
ids it has applied) and allocates a few short-lived ones per event. With CPython's
default gen-0 threshold (700 allocations) the collector runs every few hundred events
and its older generations rescan all that state again and again: it took about a third
of the CPU of ``benchmarks/events.py``. Reference counting still frees the per-event
garbage at once; only cycles wait longer. Called by ``ailayer stream run`` and the
benchmark (dedicated processes), never at import: it changes the whole process.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000


def tune_gc_for_streaming(gen0: int = GEN0_THRESHOLD) -> None:
    """Collect once, move what exists to the permanent generation, collect less often."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0, gen1, gen2)
