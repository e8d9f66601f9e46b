"""Settings for a process that serves requests for a long time (``ailayer up``/``serve``).

After start-up the heap holds a few hundred thousand long-lived objects (pandas, pyarrow,
scikit-learn, FastAPI's routes and models). CPython's oldest-generation collection scans
all of them: 90-150 ms on the 2-core benchmark machine, during which every request waits,
which set the p99 of the online-features route (benchmarks/features.py). ``gc.freeze``
moves what exists at start-up to a permanent generation that collections skip; objects
made later are collected as usual, and reference counting frees frozen ones as before.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once, then keep everything alive now out of later collections. Call it in
    a dedicated server process when start-up is done, never at import."""
    gc.collect()
    gc.freeze()
