"""``tune_gc_for_streaming`` changes the whole process, so it runs in a child here."""

from __future__ import annotations

import platform
import subprocess
import sys

CHILD = """
import gc
from ailayer.features.streaming.gc_tuning import GEN0_THRESHOLD, keep_heap_pages, tune_gc_for_streaming
tune_gc_for_streaming()
assert gc.get_threshold()[0] == GEN0_THRESHOLD, gc.get_threshold()
print(keep_heap_pages())
"""


def test_tuning_raises_gen0_and_keeps_heap_pages_on_glibc() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert done.stdout.strip() == str(on_glibc)  # mallopt accepted M_TOP_PAD where it exists
