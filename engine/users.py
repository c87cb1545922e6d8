"""Operator accounts: usernames, argon2 password hashes and roles, kept in the SQLite store."""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from engine.store.connections import SqliteConnections

ROLES = ("viewer", "trader", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_.-")


class UserError(ValueError):
    pass


@dataclass(frozen=True)
class User:
    username: str
    role: str

    def has_role(self, needed: str) -> bool:
        """Roles are ordered: admin can do what a trader can, a trader what a viewer can."""
        return _RANK[self.role] >= _RANK[needed]


class UserStore:
    """The `users` table, on its own per-thread connections to Vigil's SQLite file."""

    def __init__(self, db_path: Path, *, hasher: PasswordHasher | None = None) -> None:
        """`hasher` is argon2id with argon2-cffi's defaults unless given (tests pass cheap
        parameters: the cost is per hash, and the suite makes thousands)."""
        self._db = SqliteConnections(db_path, ("journal_mode = WAL",))
        self._hasher = hasher or PasswordHasher()
        # A hash to verify against for unknown users, so a wrong name costs as much as a
        # wrong password and response times do not reveal which accounts exist.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        with self._db.write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY, "
                "password_hash TEXT NOT NULL, role TEXT NOT NULL, created_ts REAL NOT NULL)"
            )

    def close(self) -> None:
        """Close every thread's connection."""
        self._db.close()

    def count(self) -> int:
        return int(self._db.get().execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def list(self) -> list[User]:
        db = self._db.get()
        rows = db.execute("SELECT username, role FROM users ORDER BY username").fetchall()
        return [User(name, role) for name, role in rows]

    def get(self, username: str) -> User | None:
        row = (
            self._db.get()
            .execute("SELECT username, role FROM users WHERE username = ?", (username,))
            .fetchone()
        )
        return User(*row) if row else None

    def add(self, username: str, password: str, role: str) -> User:
        username = self._check_name(username)
        self._check_role(role)
        self._check_password(password)
        digest = self._hasher.hash(password)
        with self._db.write() as db:
            try:
                db.execute(
                    "INSERT INTO users VALUES (?, ?, ?, ?)", (username, digest, role, time.time())
                )
            except sqlite3.IntegrityError:
                raise UserError(f"user {username!r} already exists") from None
        return User(username, role)

    def set_password(self, username: str, password: str) -> None:
        self._check_password(password)
        digest = self._hasher.hash(password)
        with self._db.write() as db:
            cur = db.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?", (digest, username)
            )
            if cur.rowcount == 0:
                raise UserError(f"no user {username!r}")

    def set_role(self, username: str, role: str) -> None:
        self._check_role(role)
        with self._db.write() as db:
            cur = db.execute("UPDATE users SET role = ? WHERE username = ?", (role, username))
            if cur.rowcount == 0:
                raise UserError(f"no user {username!r}")

    def remove(self, username: str) -> None:
        with self._db.write() as db:
            if db.execute("DELETE FROM users WHERE username = ?", (username,)).rowcount == 0:
                raise UserError(f"no user {username!r}")

    def verify(self, username: str, password: str) -> User | None:
        row = (
            self._db.get()
            .execute(
                "SELECT username, password_hash, role FROM users WHERE username = ?", (username,)
            )
            .fetchone()
        )
        digest = row[1] if row else self._dummy_hash
        try:
            self._hasher.verify(digest, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return User(row[0], row[2]) if row else None

    def ensure_admin(self, password: str | None) -> str | None:
        """First-run rule: set `admin`'s password from the setting, or create one if no user
        exists. Returns a generated password (to print once) or None."""
        if password:
            if self.get("admin"):
                self.set_password("admin", password)
                self.set_role("admin", "admin")
            else:
                self.add("admin", password, "admin")
            return None
        if self.count() == 0:
            generated = secrets.token_urlsafe(12)
            self.add("admin", generated, "admin")
            return generated
        return None

    @staticmethod
    def _check_name(username: str) -> str:
        name = username.strip().lower()
        if not 1 <= len(name) <= 64 or not set(name) <= USERNAME_CHARS:
            raise UserError("username: 1-64 characters of a-z, 0-9, '_', '.', '-'")
        return name

    @staticmethod
    def _check_role(role: str) -> None:
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < 8:
            raise UserError("password: at least 8 characters")
