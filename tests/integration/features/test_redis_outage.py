"""Redis going away is a 503-style BackendUnavailable; the same store works again after."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from ailayer.core.errors import BackendUnavailable
from ailayer.features import OnlineRow, open_online_store
from ailayer.features.stores import entity_key
from tests.support.online_stores import delete_prefix
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


def test_redis_outage_then_recovery_without_restart() -> None:
    proxy = TcpProxy("127.0.0.1", 6379)
    proxy.start()
    prefix = f"ailayer-test-{uuid.uuid4().hex[:10]}:"
    store = open_online_store(f"redis://127.0.0.1:{proxy.port}/0?prefix={prefix}")
    row = OnlineRow(entity_key([1]), datetime.now(UTC), {"x": 1})
    try:
        store.write_batch("t1", "v@1", [row])
        proxy.stop()
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as caught:
            store.read_batch("t1", "v@1", [row.entity_key], ["x"])
        assert caught.value.retry_after > 0 and caught.value.status == 503
        assert "online_store" in caught.value.message
        with pytest.raises(BackendUnavailable):
            store.write_batch("t1", "v@1", [row])
        assert time.monotonic() - started < 5  # fails fast, no long retry loop

        proxy.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                found = store.read_batch("t1", "v@1", [row.entity_key], ["x"])
                break
            except BackendUnavailable:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert found[0] is not None and found[0].values == {"x": 1}
    finally:
        proxy.stop()
        store.close()
        delete_prefix(prefix)
