"""Stored passwords: argon2id at argon2-cffi's default cost unless a hasher is given, and a
hash made at any cost verifies (its parameters travel in the hash)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from argon2 import PasswordHasher

from engine.users import UserStore
from tests.conftest import CHEAP_HASHER


def _stored_hash(db_path: Path, username: str) -> str:
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT password_hash FROM users WHERE username = ?", (username,))
        return str(row.fetchone()[0])


def test_default_store_then_argon2id_at_full_cost(tmp_path: Path) -> None:
    db_path = tmp_path / "vigil.sqlite3"
    UserStore(db_path).add("tina", "trader-pass-1", "trader")
    stored = _stored_hash(db_path, "tina")
    default = PasswordHasher()
    assert stored.startswith("$argon2id$")
    assert f"m={default.memory_cost},t={default.time_cost},p={default.parallelism}$" in stored, (
        stored
    )
    assert default.memory_cost >= 65536 and default.time_cost >= 2  # not weakened upstream


def test_cheap_hash_then_verified_by_a_default_store(tmp_path: Path) -> None:
    db_path = tmp_path / "vigil.sqlite3"
    UserStore(db_path, hasher=CHEAP_HASHER).add("vic", "viewer-pass-1", "viewer")
    assert "m=8,t=1,p=1$" in _stored_hash(db_path, "vic")
    server = UserStore(db_path)
    user = server.verify("vic", "viewer-pass-1")
    assert user is not None and user.role == "viewer"
    assert server.verify("vic", "wrong-password") is None
