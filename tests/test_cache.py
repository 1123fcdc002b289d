"""ResponseCache: JSON round trip, lifetime, threads, and broken files never fatal."""

from __future__ import annotations

import sqlite3
import threading

from modelshelf.cache import ResponseCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_round_trip_and_expiry(tmp_path):
    clock = Clock()
    cache = ResponseCache(tmp_path / "sub" / "cache.sqlite3", 300, clock=clock)
    assert cache.get("k") is None
    value = {"items": [{"id": 1, "name": "é"}], "metadata": {"nextCursor": "1|2|3"}}
    cache.put("k", value)
    assert cache.get("k") == value
    clock.now += 299
    assert cache.get("k") == value
    clock.now += 2
    assert cache.get("k") is None
    cache.put("k", [1, 2])
    assert cache.get("k") == [1, 2]
    cache.clear()
    assert cache.get("k") is None


def test_shared_between_instances_and_wal(tmp_path):
    path = tmp_path / "cache.sqlite3"
    ResponseCache(path, 300).put("a", {"x": 1})
    assert ResponseCache(path, 300).get("a") == {"x": 1}
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode.lower() == "wal"


def test_zero_ttl_disables(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite3", 0)
    cache.put("a", 1)
    assert cache.get("a") is None


def test_corrupt_file_is_a_miss(tmp_path, caplog):
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    cache = ResponseCache(path, 300)
    cache.put("a", 1)
    assert cache.get("a") is None
    cache.clear()
    assert "continuing without it" in caplog.text


def test_unwritable_location_is_a_miss(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = ResponseCache(blocker / "cache.sqlite3", 300)  # parent is a file
    cache.put("a", 1)
    assert cache.get("a") is None


def test_locked_database_is_not_fatal(tmp_path, caplog):
    path = tmp_path / "cache.sqlite3"
    cache = ResponseCache(path, 300)
    cache.put("a", 1)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        blocked = ResponseCache(path, 300, timeout=0.05)
        blocked.put("b", 2)  # the writer lock is held elsewhere: logged, not raised
        assert "write failed" in caplog.text
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert cache.get("a") == 1 and cache.get("b") is None


def test_unserialisable_value_is_ignored(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite3", 300)
    cache.put("a", {"x": object()})
    assert cache.get("a") is None


def test_many_threads(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite3", 300)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                cache.put(f"{n}-{i}", {"n": n, "i": i})
                assert cache.get(f"{n}-{i}") == {"n": n, "i": i}
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert cache.get("5-19") == {"n": 5, "i": 19}
