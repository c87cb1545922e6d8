"""The outbox from several threads: each on its own connection, all closed by close()."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.store.connections import StoreError
from notifier.alerts import EMERGENCY, Alert
from notifier.outbox import Outbox
from tests.engine.test_connections import open_handles


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_outbox_used_from_many_threads_then_every_alert_stored_and_close_leaves_no_handle(
    outbox_path: Path,
) -> None:
    box = Outbox(outbox_path)
    errors: list[BaseException] = []

    def raise_alerts(n: int) -> None:
        try:
            for i in range(10):
                alert = Alert(
                    key=f"k{n}-{i}", title="t", message="m", priority=EMERGENCY, created_ts=1
                )
                alert_id = box.add(alert, ["pushover"])
                box.record(alert_id, "pushover", delivered=i % 2 == 0)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=raise_alerts, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert box.counts() == {"pending": 0, "delivered": 20, "failed": 20}
    assert len(box.undelivered()) == 20
    box.close()
    assert open_handles(outbox_path) == 0
    with pytest.raises(StoreError, match="closed"):
        box.counts()
