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

A model's first load imports its library (skops and scikit-learn's submodules add about
150,000 objects), after the freeze: every full collection then scanned them again, 70 ms
of CPU each on that machine, and the p99 of a server answering with a scikit-learn model
was 30-50 ms where the ONNX one's (10,000 objects) was 6 ms. ``freeze_new_imports``,
called by the model cache after each load, freezes again once new modules have come in.
The price: the first model of each library is frozen too, and is never collected should
it hold a reference cycle once evicted (later loads import nothing and are not frozen).
"""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

_frozen_modules: int | None = None  # modules at the last freeze; None: this process never froze
_freezing = threading.Lock()


def freeze_startup_objects() -> None:
    """Collect once, then keep everything alive now out of later collections. Call it in
    a dedicated server process when start-up is done, never at import."""
    global _frozen_modules
    with _freezing:
        gc.collect()
        gc.freeze()
        _frozen_modules = len(sys.modules)


def freeze_new_imports() -> bool:
    """In a process that froze its start-up objects, freeze again if modules were imported
    since (one collection first, in the caller's thread: a model load's, which is slow
    anyway); True if it froze. Elsewhere (the CLI, tests) it does nothing."""
    global _frozen_modules
    with _freezing:
        if _frozen_modules is None or len(sys.modules) <= _frozen_modules:
            return False
        gc.collect()
        gc.freeze()
        _frozen_modules = len(sys.modules)
        return True


def enter_scratch_directory() -> Path:
    """Make an empty private directory the working directory of this process, removed
    at exit. Settings hold absolute paths, so every store is still found."""
    scratch = Path(tempfile.mkdtemp(prefix="ailayer-scratch-"))
    os.chdir(scratch)
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return scratch
