"""A separate process that registers versions of one model, for the concurrency test.

Run as ``python -m tests.integration.register_worker URL ARTIFACTS TENANT COUNT START``;
waits until START (a UNIX time) so that all workers hit the database at the same moment,
then prints the version numbers it got, one per line.
"""

from __future__ import annotations

import sys
import time

from ailayer.db.engine import Database
from ailayer.models.artifacts import open_artifact_store
from ailayer.models.service import ModelRegistry, NewVersion
from tests.support.services import tiny_sklearn_model


def main(url: str, artifacts: str, tenant: str, count: int, start: float) -> None:
    registry = ModelRegistry(Database(url), open_artifact_store(artifacts))
    tiny = tiny_sklearn_model()
    time.sleep(max(0.0, start - time.time()))
    for _ in range(count):
        new = NewVersion(
            model="race", flavor="sklearn", artifact=tiny.artifact, signature=tiny.signature
        )
        print(registry.register(tenant, "worker", new).version, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
