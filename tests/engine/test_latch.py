"""The kill switch latch: atomic checksummed writes, escalation, corruption and concurrency."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import threading
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.models import KillLevel
from engine.safety.latch import KillSwitchLatch, LatchCorrupt

NOW = FakeClock().time()


@pytest.fixture
def latch(tmp_path: Path) -> KillSwitchLatch:
    return KillSwitchLatch(tmp_path / "kill_switch.json")


def _write_doc(path: Path, body: dict, checksum: str | None = None) -> None:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = checksum or hashlib.sha256(canonical.encode()).hexdigest()
    path.write_text(json.dumps({"body": body, "sha256": digest}))


def _engaged_body(**changes: object) -> dict:
    body = {
        "version": 1,
        "engaged": True,
        "level": "halt",
        "reason": "test",
        "actor": "ops",
        "since": NOW,
        "seq": 4,
        "last_reset": None,
    }
    body.update(changes)
    return body


def test_read_when_file_missing_then_released_state_with_seq_zero(latch: KillSwitchLatch):
    state = latch.read()
    assert not latch.exists()
    assert (state.engaged, state.level, state.seq) == (False, None, 0)
    assert latch.stat_signature() is None
    assert state.to_dict() == {
        "engaged": False,
        "level": None,
        "reason": None,
        "actor": None,
        "since": None,
    }


def test_engage_then_read_returns_the_same_state(latch: KillSwitchLatch):
    written, changed = latch.engage(KillLevel.HALT, "loss spike", "alice", NOW)
    read = latch.read()
    assert changed
    assert latch.exists()
    assert read == written
    assert (read.level, read.reason, read.actor, read.since, read.seq) == (
        KillLevel.HALT,
        "loss spike",
        "alice",
        NOW,
        1,
    )
    assert read.to_dict() == {
        "engaged": True,
        "level": "halt",
        "reason": "loss spike",
        "actor": "alice",
        "since": round(NOW * 1000),
    }


def test_engage_when_escalating_then_each_step_writes_a_new_record(latch: KillSwitchLatch):
    results = [
        latch.engage(level, f"step {i}", "ops", NOW + i)
        for i, level in enumerate([KillLevel.PAUSE, KillLevel.HALT, KillLevel.FLATTEN])
    ]
    assert [changed for _, changed in results] == [True, True, True]
    assert [state.seq for state, _ in results] == [1, 2, 3]
    final = latch.read()
    assert (final.level, final.reason, final.since) == (KillLevel.FLATTEN, "step 2", NOW + 2)


@pytest.mark.parametrize(
    ("engaged", "requested"),
    [
        (KillLevel.PAUSE, KillLevel.PAUSE),
        (KillLevel.HALT, KillLevel.HALT),
        (KillLevel.HALT, KillLevel.PAUSE),
        (KillLevel.FLATTEN, KillLevel.HALT),
        (KillLevel.FLATTEN, KillLevel.PAUSE),
        (KillLevel.FLATTEN, KillLevel.FLATTEN),
    ],
)
def test_engage_when_already_at_same_or_higher_level_then_nothing_written(
    latch: KillSwitchLatch, engaged: KillLevel, requested: KillLevel
):
    first, _ = latch.engage(engaged, "first click", "alice", NOW)
    signature = latch.stat_signature()
    again, changed = latch.engage(requested, "second click", "bob", NOW + 5)
    assert not changed
    assert again == first
    assert latch.read() == first
    assert latch.stat_signature() == signature


def test_reset_then_released_with_last_reset_kept_across_engagements(latch: KillSwitchLatch):
    latch.engage(KillLevel.FLATTEN, "panic", "alice", NOW)
    released = latch.reset("admin", "all flat, resuming", NOW + 60)
    assert not released.engaged
    assert released.level is None and released.since is None
    assert released.seq == 2
    assert latch.read() == released
    assert released.last_reset is not None
    assert released.last_reset.to_dict() == {
        "actor": "admin",
        "reason": "all flat, resuming",
        "at": round((NOW + 60) * 1000),
    }
    engaged, changed = latch.engage(KillLevel.PAUSE, "again", "bob", NOW + 120)
    assert changed and engaged.seq == 3
    assert latch.read().last_reset == released.last_reset


def test_stat_signature_when_file_rewritten_then_changes(latch: KillSwitchLatch):
    latch.engage(KillLevel.PAUSE, "a", "ops", NOW)
    first = latch.stat_signature()
    latch.reset("admin", "b", NOW)
    second = latch.stat_signature()
    assert first is not None and second is not None
    assert first != second
    assert latch.stat_signature() == second


def _truncated(path: Path, latch: KillSwitchLatch) -> None:
    latch.engage(KillLevel.HALT, "about to be truncated", "ops", NOW)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _garbage(path: Path, latch: KillSwitchLatch) -> None:
    path.write_bytes(b"\x00\xff\xfe garbage \x81")


def _empty(path: Path, latch: KillSwitchLatch) -> None:
    path.write_bytes(b"")


def _not_json(path: Path, latch: KillSwitchLatch) -> None:
    path.write_text("engaged = true\n")


def _edited(path: Path, latch: KillSwitchLatch) -> None:
    latch.engage(KillLevel.HALT, "real reason", "ops", NOW)
    doc = json.loads(path.read_text())
    doc["body"]["engaged"] = False
    doc["body"]["level"] = None
    doc["body"]["since"] = None
    path.write_text(json.dumps(doc))


def _wrong_checksum(path: Path, latch: KillSwitchLatch) -> None:
    _write_doc(path, _engaged_body(), checksum="0" * 64)


def _unknown_level(path: Path, latch: KillSwitchLatch) -> None:
    _write_doc(path, _engaged_body(level="nuke"))


def _missing_field(path: Path, latch: KillSwitchLatch) -> None:
    body = _engaged_body()
    del body["actor"]
    _write_doc(path, body)


def _engaged_without_since(path: Path, latch: KillSwitchLatch) -> None:
    _write_doc(path, _engaged_body(since=None))


def _not_an_object(path: Path, latch: KillSwitchLatch) -> None:
    path.write_text("[1, 2, 3]")


def _a_directory(path: Path, latch: KillSwitchLatch) -> None:
    path.mkdir()


@pytest.mark.parametrize(
    ("damage", "reason_word"),
    [
        (_truncated, "JSON"),
        (_garbage, "JSON"),
        (_empty, "empty"),
        (_not_json, "JSON"),
        (_edited, "checksum"),
        (_wrong_checksum, "checksum"),
        (_unknown_level, "schema"),
        (_missing_field, "schema"),
        (_engaged_without_since, "schema"),
        (_not_an_object, "body"),
        (_a_directory, "unreadable"),
    ],
)
def test_read_when_file_damaged_then_latch_corrupt(
    latch: KillSwitchLatch, damage, reason_word: str
):
    damage(latch.path, latch)
    with pytest.raises(LatchCorrupt) as info:
        latch.read()
    assert reason_word in info.value.reason
    assert str(latch.path) in str(info.value)


@pytest.mark.parametrize("damage", [_truncated, _garbage, _empty, _edited, _unknown_level])
def test_engage_when_file_corrupt_then_writes_a_valid_latch(latch: KillSwitchLatch, damage):
    damage(latch.path, latch)
    state, changed = latch.engage(KillLevel.PAUSE, "repair", "ops", NOW)
    assert changed
    assert latch.read() == state
    assert (state.engaged, state.level) == (True, KillLevel.PAUSE)


def test_engage_when_corrupt_file_had_a_seq_then_new_seq_is_higher(latch: KillSwitchLatch):
    _write_doc(latch.path, _engaged_body(seq=41), checksum="f" * 64)
    state, _ = latch.engage(KillLevel.HALT, "repair", "ops", NOW)
    assert state.seq == 42


def test_reset_when_file_corrupt_then_writes_a_released_latch(latch: KillSwitchLatch):
    _garbage(latch.path, latch)
    state = latch.reset("admin", "inspected by hand", NOW)
    assert latch.read() == state
    assert not state.engaged


def test_writes_leave_only_the_latch_and_its_lock_file(latch: KillSwitchLatch):
    for i in range(5):
        latch.engage(KillLevel.HALT, "x", "ops", NOW + i)
        latch.reset("admin", "y", NOW + i)
    assert sorted(p.name for p in latch.path.parent.iterdir()) == [
        "kill_switch.json",
        "kill_switch.json.lock",
    ]


def test_write_when_rename_fails_then_temp_file_removed(latch: KillSwitchLatch):
    latch.path.mkdir()
    (latch.path / "occupant").write_text("x")  # os.replace cannot overwrite a full directory
    with pytest.raises(OSError):
        latch.engage(KillLevel.HALT, "x", "ops", NOW)
    assert sorted(p.name for p in latch.path.parent.iterdir()) == [
        "kill_switch.json",
        "kill_switch.json.lock",
    ]


def test_engage_when_parent_directory_missing_then_created(tmp_path: Path):
    latch = KillSwitchLatch(tmp_path / "fresh" / "kill_switch.json")
    _, changed = latch.engage(KillLevel.HALT, "x", "ops", NOW)
    assert changed and latch.read().engaged


def test_engage_from_many_threads_at_once_then_exactly_one_change(latch: KillSwitchLatch):
    barrier = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def click(i: int) -> None:
        barrier.wait()
        _, changed = latch.engage(KillLevel.HALT, f"click {i}", f"op{i}", NOW)
        with lock:
            results.append(changed)

    threads = [threading.Thread(target=click, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [False] * 7 + [True]
    state = latch.read()
    assert (state.level, state.seq) == (KillLevel.HALT, 1)


def test_engage_mixed_levels_from_threads_then_highest_level_wins(latch: KillSwitchLatch):
    levels = [KillLevel.PAUSE, KillLevel.FLATTEN, KillLevel.HALT] * 3
    barrier = threading.Barrier(len(levels))
    changes: list[bool] = []

    def click(level: KillLevel) -> None:
        barrier.wait()
        changes.append(latch.engage(level, "race", "ops", NOW)[1])

    threads = [threading.Thread(target=click, args=(lv,)) for lv in levels]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    state = latch.read()
    assert state.level is KillLevel.FLATTEN
    assert state.seq == sum(changes)  # every change was one write, none lost


def _engage_in_process(path: str, barrier, queue, index: int) -> None:
    barrier.wait(timeout=30)
    _, changed = KillSwitchLatch(Path(path)).engage(KillLevel.HALT, f"proc {index}", "ops", NOW)
    queue.put(changed)


def test_engage_from_two_processes_at_once_then_exactly_one_change(latch: KillSwitchLatch):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_engage_in_process, args=(str(latch.path), barrier, queue, i))
        for i in range(2)
    ]
    for p in procs:
        p.start()
    # The parent is the third party at the barrier and clicks too.
    _engage_in_process(str(latch.path), barrier, queue, 99)
    results = [queue.get(timeout=60) for _ in range(3)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(results) == [False, False, True]
    assert latch.read().seq == 1


def _flip_repeatedly(path: str, rounds: int, started) -> None:
    latch = KillSwitchLatch(Path(path))
    started.set()
    for i in range(rounds):
        latch.engage(KillLevel.HALT, "r" * (i % 50), f"writer-{i}", NOW + i)
        latch.reset("admin", "x" * (i % 70), NOW + i)


def test_reader_in_another_process_never_sees_a_partial_write(latch: KillSwitchLatch):
    latch.reset("admin", "start", NOW)
    ctx = multiprocessing.get_context("spawn")
    started = ctx.Event()
    writer = ctx.Process(target=_flip_repeatedly, args=(str(latch.path), 150, started))
    writer.start()
    assert started.wait(timeout=60)
    seen: set[int] = set()
    reads = 0
    while writer.is_alive():
        seen.add(latch.read().seq)  # LatchCorrupt here would fail the test
        reads += 1
    writer.join(timeout=60)
    assert writer.exitcode == 0
    assert latch.read().seq == 301
    assert reads > 0 and len(seen) > 1


def test_load_when_file_missing_then_none_but_read_shows_released(latch: KillSwitchLatch):
    assert latch.load() is None
    assert not latch.read().engaged


def test_reset_records_before_write_with_the_new_seq(latch: KillSwitchLatch):
    latch.engage(KillLevel.HALT, "x", "ops", NOW)
    seen: list[tuple[int, bool]] = []

    def record(seq: int) -> None:
        seen.append((seq, latch.read().engaged))  # the file has not changed yet

    state = latch.reset("admin", "done", NOW, before_write=record)
    assert seen == [(state.seq, True)]
    assert not latch.read().engaged


def test_reset_when_recording_fails_then_latch_stays_engaged(latch: KillSwitchLatch):
    latch.engage(KillLevel.HALT, "x", "ops", NOW)

    def record(seq: int) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        latch.reset("admin", "done", NOW, before_write=record)
    assert latch.read().engaged


def test_engage_with_seq_floor_then_seq_continues_above_it(latch: KillSwitchLatch):
    state, _ = latch.engage(KillLevel.HALT, "rewritten", "system", NOW, seq_floor=41)
    assert state.seq == 42


def test_engage_when_directory_cannot_be_created_then_oserror_and_nothing_written(
    tmp_path: Path,
):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    latch = KillSwitchLatch(blocker / "kill_switch.json")
    with pytest.raises(OSError):
        latch.engage(KillLevel.HALT, "x", "ops", NOW)
    assert blocker.read_text().startswith("a file")


def test_last_signature_is_the_file_as_written(latch: KillSwitchLatch):
    latch.engage(KillLevel.HALT, "x", "ops", NOW)
    assert latch.last_signature == latch.stat_signature()


def test_engage_when_file_is_an_old_engaged_copy_then_rewritten_above_the_floor(
    latch: KillSwitchLatch,
):
    latch.engage(KillLevel.FLATTEN, "old", "ops", NOW)
    state, changed = latch.engage(KillLevel.HALT, "new", "alice", NOW, seq_floor=9)
    assert not changed
    assert (state.level, state.reason, state.seq) == (KillLevel.FLATTEN, "old", 10)
    assert latch.read() == state
