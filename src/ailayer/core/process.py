"""Settings for a process that serves requests for a long time (``ailayer up``/``serve``).

Models run in a scratch working directory (``enter_scratch_directory``): a model file is
untrusted input, and should one ever write a relative path, it lands in an empty
directory of its own, not beside the metadata database and the stores in the home.

After start-up the heap holds a few hundred thousand long-lived objects (pandas, pyarrow,
scikit-learn, FastAPI's routes and models). CPython's oldest-generation collection scans
all of them: 90-150 ms on the 2-core benchmark machine, during which every request waits,
which set the p99 of the online-features route (benchmarks/features.py). ``gc.freeze``
moves what exists at start-up to a permanent generation that collections skip; objects
made later are collected as usual, and reference counting frees frozen ones as before.
"""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import tempfile
from pathlib import Path


def freeze_startup_objects() -> None:
    """Collect once, then keep everything alive now out of later collections. Call it in
    a dedicated server process when start-up is done, never at import."""
    gc.collect()
    gc.freeze()


def enter_scratch_directory() -> Path:
    """Make an empty private directory the working directory of this process, removed
    at exit. Settings hold absolute paths, so every store is still found."""
    scratch = Path(tempfile.mkdtemp(prefix="ailayer-scratch-"))
    os.chdir(scratch)
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return scratch
