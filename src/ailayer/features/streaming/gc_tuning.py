"""Garbage-collector and allocator settings for a process that runs stream views.

A stream processor keeps many small, long-lived objects (window state per entity, the
ids it has applied) and allocates a few short-lived ones per event. With CPython's
default gen-0 threshold (700 allocations) the collector runs every few hundred events
and its older generations rescan all that state again and again: it took about a third
of the CPU of ``benchmarks/events.py``. Reference counting still frees the per-event
garbage at once; only cycles wait longer.

Each fetched batch and each commit also allocates a few megabytes (a batch's bodies
joined for one JSON decode, a commit's serialised events and Parquet buffers) and frees
them a moment later; glibc then hands the top of the heap back to the kernel, and the
next batch faults the same pages in again, which is slow in a virtual machine. Asking
glibc to keep ``HEAP_PAD_BYTES`` of padding on top of the heap (``M_TOP_PAD``, the
``MALLOC_TOP_PAD_`` environment variable) keeps those pages: about 12 % less consumer CPU
in that benchmark (six paired runs, Redis), for up to 64 MB of memory held. Other C
libraries are left alone.

Called by ``ailayer stream run`` and the benchmark (dedicated processes), never at
import: it changes the whole process.
"""

from __future__ import annotations

import ctypes
import gc
import platform
import sys

GEN0_THRESHOLD = 50_000
HEAP_PAD_BYTES = 64 << 20
M_TOP_PAD = -2  # glibc's <malloc.h>


def tune_gc_for_streaming(gen0: int = GEN0_THRESHOLD) -> None:
    """Collect once, move what exists to the permanent generation, collect less often;
    keep freed heap pages (``keep_heap_pages``)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0, gen1, gen2)
    keep_heap_pages()


def keep_heap_pages(pad: int = HEAP_PAD_BYTES) -> bool:
    """``mallopt(M_TOP_PAD, pad)`` on Linux with glibc; False where it does not apply."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    return bool(mallopt(ctypes.c_int(M_TOP_PAD), ctypes.c_int(pad)))
