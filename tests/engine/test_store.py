"""Tests for the SQLite store: round trips, idempotence, durability across reopen, threads."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.models import ClosedTrade, Fill, Order, OrderStatus, OrderType, Side
from engine.store import SCHEMA_VERSION
from engine.store.sqlite import AuditRow, Store, StoreError, StoreWriteError

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "vigil.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path, clock=FakeClock(T0))
    yield s
    s.close()


def make_order(order_id: str = "P-1", **changes: object) -> Order:
    fields: dict[str, object] = {
        "id": order_id,
        "symbol": "SPY",
        "side": Side.BUY,
        "qty": 2.0,
        "type": OrderType.LIMIT,
        "status": OrderStatus.NEW,
        "created_ts": T0 + 0.125,
        "updated_ts": T0 + 0.125,
        "limit_price": 500.25,
        "stop_price": None,
        "take_profit": 510.0,
        "stop_loss": 495.5,
        "reduce_only": True,
        "source": "manual",
        "tag": "entry",
        "parent_id": "P-0",
        "oco_id": "OCO-1",
        "filled_qty": 0.5,
        "avg_fill_price": 500.2,
        "reject_reason": "",
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type]


def make_trade(trade_id: str, pnl: float, exit_ts: float, **changes: object) -> ClosedTrade:
    fields: dict[str, object] = {
        "symbol": "BTC/USD",
        "direction": "long",
        "qty": 0.01,
        "entry_price": 60_000.0,
        "exit_price": 60_100.0,
        "pnl": pnl,
        "fees": 0.1,
        "entry_ts": exit_ts - 60.0,
        "exit_ts": exit_ts,
        "id": trade_id,
    }
    fields.update(changes)
    return ClosedTrade(**fields)  # type: ignore[arg-type]


def test_save_order_then_load_returns_equal_order_with_enums(store: Store) -> None:
    order = make_order()
    store.save_order(order)
    [loaded] = store.load_orders()
    assert loaded == order
    assert type(loaded.side) is Side
    assert type(loaded.type) is OrderType
    assert type(loaded.status) is OrderStatus
    assert loaded.reduce_only is True


def test_save_order_with_same_id_then_row_updated_not_duplicated(store: Store) -> None:
    store.save_order(make_order())
    filled = make_order(status=OrderStatus.FILLED, filled_qty=2.0, updated_ts=T0 + 5.0)
    store.save_order(filled)
    assert store.load_orders() == [filled]
    assert store.counts()["orders"] == 1


def test_load_orders_open_only_keeps_new_accepted_and_partially_filled(store: Store) -> None:
    for i, status in enumerate(OrderStatus):
        store.save_order(make_order(f"P-{i}", status=status, created_ts=T0 + i))
    open_orders = store.load_orders(open_only=True)
    assert [o.status for o in open_orders] == [
        OrderStatus.NEW,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
    ]
    assert len(store.load_orders()) == len(OrderStatus)


def test_save_order_with_invalid_side_then_refused_and_nothing_written(store: Store) -> None:
    with pytest.raises(ValueError):
        store.save_order(make_order(side="sideways"))
    assert store.load_orders() == []


def test_save_fill_then_load_round_trips_oldest_first(store: Store) -> None:
    late = Fill("P-1", "SPY", Side.SELL, 1.0, 501.0, 0.05, T0 + 10, id="F-2")
    early = Fill("P-1", "SPY", Side.BUY, 2.0, 500.0, 0.1, T0 + 1, id="F-1")
    anonymous = Fill("P-2", "QQQ", Side.BUY, 3.0, 400.0, 0.0, T0 + 5)
    for fill in (late, early, anonymous):
        assert store.save_fill(fill) is True
    loaded = store.load_fills()
    assert loaded == [early, anonymous, late]
    assert type(loaded[0].side) is Side


def test_save_fill_with_known_id_then_ignored(store: Store) -> None:
    fill = Fill("P-1", "SPY", Side.BUY, 2.0, 500.0, 0.1, T0, id="F-1")
    assert store.save_fill(fill) is True
    assert store.save_fill(fill) is False
    assert store.load_fills() == [fill]


def test_save_fill_without_id_then_every_call_recorded(store: Store) -> None:
    fill = Fill("P-1", "SPY", Side.BUY, 1.0, 500.0, 0.0, T0)
    store.save_fill(fill)
    store.save_fill(fill)
    assert store.load_fills() == [fill, fill]


def test_save_trade_then_load_returns_newest_first(store: Store) -> None:
    trades = [make_trade(f"T-{i}", float(i), T0 + i * 60) for i in range(3)]
    trades.append(make_trade("", -2.5, T0 + 30, direction="short"))
    for trade in trades:
        store.save_trade(trade)
    loaded = store.load_trades()
    assert [t.id for t in loaded] == ["T-2", "T-1", "", "T-0"]
    assert loaded[2] == trades[3]
    assert store.save_trade(trades[0]) is False
    assert store.counts()["trades"] == 4


def test_load_trades_with_limit_and_since_then_filtered(store: Store) -> None:
    for i in range(5):
        store.save_trade(make_trade(f"T-{i}", 1.0, T0 + i * 100))
    assert [t.id for t in store.load_trades(limit=2)] == ["T-4", "T-3"]
    assert [t.id for t in store.load_trades(since=T0 + 200)] == ["T-4", "T-3", "T-2"]
    assert [t.id for t in store.load_trades(limit=1, since=T0 + 200)] == ["T-4"]


def test_realized_pnl_since_sums_trades_exiting_at_or_after_ts(store: Store) -> None:
    assert store.realized_pnl_since(T0) == 0.0
    store.save_trade(make_trade("T-1", 10.0, T0 - 1))  # before: excluded
    store.save_trade(make_trade("T-2", -4.0, T0))  # exactly at ts: included
    store.save_trade(make_trade("T-3", 1.5, T0 + 3600))
    assert store.realized_pnl_since(T0) == pytest.approx(-2.5)  # -4.0 + 1.5
    assert store.realized_pnl_since(T0 - 10) == pytest.approx(7.5)  # 10 - 4 + 1.5


def test_load_equity_returns_oldest_first_and_limit_keeps_newest(store: Store) -> None:
    for i in range(5):
        store.save_equity(T0 + i, 100_000.0 + i)
    assert store.load_equity() == [(T0 + i, 100_000.0 + i) for i in range(5)]
    assert store.load_equity(limit=2) == [(T0 + 3, 100_003.0), (T0 + 4, 100_004.0)]
    assert store.load_equity(since=T0 + 2) == [(T0 + i, 100_000.0 + i) for i in (2, 3, 4)]
    assert store.load_equity(since=T0 + 1, limit=10) == store.load_equity()[1:]


def test_audit_round_trips_details_and_reports_ms_newest_first(store: Store) -> None:
    details = {"level": "flatten", "cancelled": 3, "ok": True, "nested": {"pnl": -12.5}}
    first = store.audit("admin", "kill_switch", reason="runaway", outcome="ok", details=details)
    second = store.audit("system", "breaker_trip", ts=T0 + 1.2345)
    assert second > first
    newest, oldest = store.audit_log()
    assert newest == {
        "id": second,
        "ts": 1_767_225_601_234,  # 1.2345 s after T0, in whole milliseconds
        "actor": "system",
        "action": "breaker_trip",
        "reason": "",
        "outcome": "",
        "details": {},
    }
    assert oldest["id"] == first
    assert oldest["ts"] == 1_767_225_600_000  # the store's FakeClock
    assert (oldest["reason"], oldest["outcome"]) == ("runaway", "ok")
    assert oldest["details"] == details


def test_audit_with_unencodable_detail_then_stored_as_text(store: Store) -> None:
    store.audit("admin", "reset", details={"path": Path("/var/vigil")})
    assert store.audit_log()[0]["details"] == {"path": "/var/vigil"}


def test_audit_log_pages_back_with_before_id(store: Store) -> None:
    ids = [store.audit("system", f"a{i}") for i in range(5)]
    page = store.audit_log(limit=2)
    assert [row["id"] for row in page] == [ids[4], ids[3]]
    page = store.audit_log(limit=2, before_id=page[-1]["id"])
    assert [row["id"] for row in page] == [ids[2], ids[1]]


def test_audit_rows_cannot_be_updated_or_deleted(store: Store, db_path: Path) -> None:
    store.audit("admin", "kill_switch", reason="original")
    raw = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE audit SET reason = 'rewritten'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM audit")
    finally:
        raw.close()
    assert store.audit_log()[0]["reason"] == "original"


def test_kv_set_get_and_overwrite(store: Store) -> None:
    assert store.get_kv("session_anchor") is None
    store.set_kv("session_anchor", "1767225600")
    store.set_kv("session_anchor", "1767312000")
    assert store.get_kv("session_anchor") == "1767312000"


def test_counts_reports_rows_per_table(store: Store) -> None:
    store.save_order(make_order())
    store.save_fill(Fill("P-1", "SPY", Side.BUY, 1.0, 500.0, 0.0, T0, id="F-1"))
    store.save_equity(T0, 1.0)
    store.save_equity(T0 + 1, 2.0)
    store.audit("a", "b")
    assert store.counts() == {"orders": 1, "fills": 1, "trades": 0, "equity": 2, "audit": 1}


def test_open_then_connection_uses_wal_full_sync_and_foreign_keys(
    store: Store, db_path: Path
) -> None:
    assert store.pragmas() == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL
        "foreign_keys": 1,
        "busy_timeout": 5000,
    }
    raw = sqlite3.connect(db_path)  # WAL is a property of the file, seen by any connection
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),)
    finally:
        raw.close()


def test_reopen_after_close_then_committed_rows_survive(db_path: Path) -> None:
    first = Store(db_path)
    order = make_order()
    first.save_order(order)
    first.save_trade(make_trade("T-1", 3.0, T0))
    first.save_equity(T0, 100_000.0)
    audit_id = first.audit("admin", "login", ts=T0)
    first.close()

    second = Store(db_path)
    try:
        assert second.load_orders() == [order]
        assert [t.id for t in second.load_trades()] == ["T-1"]
        assert second.load_equity() == [(T0, 100_000.0)]
        assert second.audit_log()[0]["id"] == audit_id
        assert second.audit("admin", "logout") == audit_id + 1
    finally:
        second.close()


def test_second_store_on_same_file_sees_rows_committed_by_first(
    store: Store, db_path: Path
) -> None:
    other = Store(db_path)
    try:
        store.save_equity(T0, 42.0)
        assert other.load_equity() == [(T0, 42.0)]
        other.audit("cli", "kill_switch")  # another process's write, seen by the first
        assert store.audit_log()[0]["actor"] == "cli"
    finally:
        other.close()


def test_open_file_with_newer_schema_then_refused(db_path: Path) -> None:
    Store(db_path).close()
    raw = sqlite3.connect(db_path)
    raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="newer"):
        Store(db_path)


def test_use_after_close_then_store_error(db_path: Path) -> None:
    s = Store(db_path)
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.load_orders()
    with pytest.raises(StoreError, match="closed"):
        s.save_equity(T0, 1.0)


def test_reader_thread_sees_consistent_prefixes_while_owner_writes(store: Store) -> None:
    total = 300
    snapshots: list[list[tuple[float, float]]] = []
    errors: list[BaseException] = []
    done = threading.Event()
    started = threading.Event()

    def reader() -> None:
        try:
            started.set()
            while not done.is_set():
                snapshots.append(store.load_equity())
            snapshots.append(store.load_equity())  # one read after the last commit
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    started.wait(5)
    for i in range(total):
        store.save_equity(T0 + i, float(i))
    done.set()
    thread.join(10)

    assert not thread.is_alive()
    assert errors == []
    expected = [(T0 + i, float(i)) for i in range(total)]
    # Every read is a committed prefix, never a torn or reordered one, and reads only grow.
    assert all(snap == expected[: len(snap)] for snap in snapshots)
    assert [len(s) for s in snapshots] == sorted(len(s) for s in snapshots)
    assert snapshots[-1] == expected


def test_writes_from_two_threads_then_all_rows_recorded(store: Store) -> None:
    errors: list[BaseException] = []

    def writer(actor: str) -> None:
        try:
            for i in range(50):
                store.audit(actor, f"step-{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("engine", "web")]
    for thread in threads:
        thread.start()
    writer("main")
    for thread in threads:
        thread.join(10)
    assert errors == []
    rows = store.audit_log(limit=1000)
    assert len(rows) == 150
    assert len({row["id"] for row in rows}) == 150


def open_handles(path: Path) -> int:
    """How many file descriptors of this process point at `path` (Linux /proc)."""
    fd_dir = Path("/proc/self/fd")
    count = 0
    for fd in fd_dir.iterdir():
        try:
            if Path(fd.readlink()) == path.resolve():
                count += 1
        except OSError:
            continue
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_connection_of_finished_thread_is_closed_on_next_connect(
    store: Store, db_path: Path
) -> None:
    seen: list[int] = []

    def read_in_thread() -> None:
        seen.append(store.counts()["audit"])

    for _ in range(5):
        thread = threading.Thread(target=read_in_thread)
        thread.start()
        thread.join(5)
    assert seen == [0] * 5
    # The main thread's connection plus, at most, the last finished thread's: not six.
    assert open_handles(db_path) <= 2
    store.close()
    assert open_handles(db_path) == 0


def test_save_orders_when_many_then_all_upserted_in_one_go(tmp_path: Path) -> None:
    from engine.models import Order, OrderStatus, OrderType, Side

    store = Store(tmp_path / "s.sqlite3")
    orders = [
        Order(
            f"P-{i}",
            "SPY",
            Side.BUY,
            1.0,
            OrderType.LIMIT,
            OrderStatus.NEW,
            1.0,
            1.0,
            limit_price=100.0 + i,
        )
        for i in range(5)
    ]
    store.save_orders(orders)
    orders[2].status = OrderStatus.CANCELED
    store.save_orders([orders[2]])
    loaded = {o.id: o for o in store.load_orders()}
    assert len(loaded) == 5
    assert loaded["P-2"].status is OrderStatus.CANCELED
    assert {o.id for o in store.load_orders(open_only=True)} == {"P-0", "P-1", "P-3", "P-4"}
    store.save_orders([])
    store.close()


def _batch(fill_id: str = "P-1-F1") -> dict[str, list]:
    fill = Fill("P-1", "SPY", Side.BUY, 2.0, 500.0, 0.05, T0 + 1, fill_id)
    # A big audit row makes the transaction need new pages, whatever free space there is.
    audit = AuditRow(T0 + 1, "alice", "order_placed", details={"blob": "x" * 200_000})
    return {
        "fills": [fill],
        "trades": [make_trade("T-1", 5.0, T0 + 2)],
        "orders": [make_order(), make_order(status=OrderStatus.FILLED)],
        "audits": [audit],
    }


def test_save_batch_when_database_full_then_nothing_written_and_retry_lands_once(
    store: Store,
) -> None:
    conn = store._conn()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's real SQLITE_FULL from here

    with pytest.raises(StoreWriteError, match="full"):
        store.save_batch(**_batch())

    assert store.counts() == {"orders": 0, "fills": 0, "trades": 0, "equity": 0, "audit": 0}
    conn.execute("PRAGMA max_page_count = 1073741823")
    store.save_batch(**_batch())
    store.save_batch(**_batch())  # a retry after an unclear failure: fills/trades not doubled
    counts = store.counts()
    assert (counts["fills"], counts["trades"], counts["orders"]) == (1, 1, 1)
    assert store.load_orders()[0].status is OrderStatus.FILLED  # the newer version won
    assert store.audit_log()[0]["details"]["blob"] == "x" * 200_000
