"""Command-line controls that work with the web server down: kill switch, users, share links."""

from __future__ import annotations

import getpass
import json
import sqlite3
import sys
import time
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from dashboard.services import services
from dashboard.settings import VigilSettings
from dashboard.share_links import ShareLinks
from engine.models import KillLevel
from engine.safety.latch import KillSwitchLatch, LatchCorrupt
from engine.safety.manager import ENGAGED_KEY, FLATTEN_KEY
from engine.safety.trust import RESET_ACTION, void_reset
from engine.store import Store, StoreError
from engine.store.settings import StoreSettings
from engine.users import ROLES, UserError, UserStore

kill_switch = AppGroup("kill-switch", help="Engage, inspect or reset the kill switch latch.")
users_cli = AppGroup("users", help="Manage operator accounts.")
share_cli = AppGroup("share", help="Read-only share links: create, list, revoke.")


def _settings() -> VigilSettings:
    return services().settings


def _files() -> StoreSettings:
    """Where the store and the latch are: the data directory's files."""
    return _settings().engine.store


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _read_password(password_stdin: bool, prompt: str = "Password") -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=False)


@kill_switch.command("engage")
@click.option("--level", type=click.Choice([lvl.value for lvl in KillLevel]), default="halt")
@click.option("--reason", required=True, help="Why; goes to the audit log and the alert.")
@click.option("--actor", default=None, help="Who (default: cli:<login name>).")
def engage(level: str, reason: str, actor: str | None) -> None:
    """Write the latch. A running server acts on it within a second; a stopped one starts HALTED."""
    if len(reason.strip()) < 3:
        _fail("--reason needs at least 3 characters")
    files = _files()
    who = actor or f"cli:{getpass.getuser()}"
    try:
        state, changed = KillSwitchLatch(files.latch_path).engage(
            KillLevel(level), reason.strip(), who, time.time()
        )
    except OSError as exc:
        _fail(f"cannot write the latch {files.latch_path}: {exc.strerror or exc}")
        return
    word = "engaged" if changed else "already engaged at this level or higher"
    click.echo(f"kill switch {word}: {json.dumps(state.to_dict())}")
    # The latch alone already halts: a store that cannot take the record must not hide that.
    try:
        store = Store(files.db_path)
        try:
            store.set_kv(ENGAGED_KEY, "1")
            if state.level is KillLevel.FLATTEN:
                store.set_kv(FLATTEN_KEY, "1")
            if changed:
                store.audit(
                    who,
                    "kill_switch_engaged",
                    reason=reason,
                    outcome=f"{level} (cli)",
                    details={"latch_seq": state.seq, "source": "cli"},
                )
        finally:
            store.close()
    except (OSError, sqlite3.Error, StoreError) as exc:
        _fail(f"latch engaged, but the store could not record it: {exc}")


@kill_switch.command("status")
def status() -> None:
    """Print the latch as JSON; exit 2 when it cannot be read (the server would start HALTED)."""
    try:
        state = KillSwitchLatch(_files().latch_path).read()
    except LatchCorrupt as exc:
        click.echo(json.dumps({"engaged": None, "error": str(exc)}))
        sys.exit(2)
    click.echo(json.dumps(state.to_dict()))


@kill_switch.command("reset")
@click.option("--user", "username", required=True, help="An admin account.")
@click.option("--reason", required=True)
@click.option("--confirm", default=None, help="Type RESET to confirm (prompted if absent).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def reset(username: str, reason: str, confirm: str | None, password_stdin: bool) -> None:
    """Clear the latch: needs an admin's own password, a reason and the word RESET.

    The reset is recorded in the audit log, with the seq the released latch will carry,
    before the file changes: a running server releases only a latch it finds recorded there
    (engine/safety/trust.py), so a released latch written by hand keeps it HALTED.
    """
    files = _files()
    store = Store(files.db_path)
    try:
        if len(reason.strip()) < 3:
            _fail("--reason needs at least 3 characters")
        password = _read_password(password_stdin)
        user = UserStore(files.db_path).verify(username.lower(), password)
        if user is None or user.role != "admin":
            store.audit(
                username,
                "reset_kill_switch_denied",
                reason="cli: bad credentials or role",
                outcome="FORBIDDEN",
            )
            _fail("reset needs an admin account and its password")
            return
        word = confirm if confirm is not None else click.prompt("Type RESET to confirm")
        if word != "RESET":
            _fail("not confirmed")

        recorded: list[int] = []

        def record(seq: int) -> None:
            store.audit(
                user.username,
                RESET_ACTION,
                reason=reason.strip(),
                outcome="cli",
                details={"latch_seq": seq, "source": "cli"},
            )
            recorded.append(seq)

        try:
            KillSwitchLatch(files.latch_path).reset(
                user.username, reason.strip(), time.time(), before_write=record
            )
        except (OSError, sqlite3.Error, StoreError) as exc:
            if recorded:
                void_reset(store, user.username, recorded[0], f"latch not written: {exc}")
            _fail(f"reset could not be saved, the kill switch stays engaged: {exc}")
        try:
            store.set_kv(ENGAGED_KEY, "0")
            store.set_kv(FLATTEN_KEY, "0")
        except (sqlite3.Error, StoreError) as exc:
            # The latch is released and its reset recorded: a server accepts it regardless.
            click.echo(f"warning: the store's engaged flag was not updated: {exc}", err=True)
        click.echo("kill switch reset")
    finally:
        store.close()


@users_cli.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password-stdin", is_flag=True)
def add_user(name: str, role: str, password_stdin: bool) -> None:
    """Create an account (password from a prompt, or --password-stdin)."""
    password = _read_password(password_stdin, f"Password for {name}")
    try:
        user = UserStore(_files().db_path).add(name, password, role)
    except UserError as exc:
        _fail(str(exc))
        return
    click.echo(f"added {user.username} ({user.role})")


@users_cli.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True)
def passwd(name: str, password_stdin: bool) -> None:
    password = _read_password(password_stdin, f"New password for {name}")
    try:
        UserStore(_files().db_path).set_password(name.lower(), password)
    except UserError as exc:
        _fail(str(exc))
    click.echo(f"password changed for {name.lower()}")


@users_cli.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    try:
        UserStore(_files().db_path).remove(name.lower())
    except UserError as exc:
        _fail(str(exc))
    click.echo(f"removed {name.lower()}")


@users_cli.command("list")
def list_users() -> None:
    for user in UserStore(_files().db_path).list():
        click.echo(f"{user.username}\t{user.role}")


def _share_links() -> ShareLinks:
    return services().share_links


def _audit(actor: str, action: str, **fields: Any) -> None:
    store = Store(_files().db_path)
    try:
        store.audit(actor, action, **fields)
    finally:
        store.close()


@share_cli.command("create")
@click.option("--ttl-hours", type=click.IntRange(1, 168), default=24, show_default=True)
@click.option("--note", default="", help="A reminder of whom the link is for.")
@click.option("--by", "actor", default=None, help="Who (default: cli:<login name>).")
@click.option("--base-url", default=None, help="The address people reach Vigil at.")
def share_create(ttl_hours: int, note: str, actor: str | None, base_url: str | None) -> None:
    """Print a new viewer link; it is shown once, so copy it now."""
    web = _settings().web
    who = actor or f"cli:{getpass.getuser()}"
    if len(note) > 200 or any(ord(ch) < 32 or ord(ch) == 127 for ch in note):
        _fail("--note: at most 200 printable characters")
    link, token = _share_links().create(who, ttl_hours, note.strip())
    _audit(who, "share_link_created", outcome=link.id, details={"expires_ts": link.expires_ts})
    base = (base_url or f"http://{web.host}:{web.port}").rstrip("/")
    expires = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(link.expires_ts))
    click.echo(f"{base}/share/{token}")
    click.echo(f"id {link.id}, expires {expires}", err=True)


@share_cli.command("list")
def share_list() -> None:
    """One line per link: id, state, expiry, creator, note."""
    links = _share_links()
    now = links.clock.time()
    for link in links.list():
        state = "active" if link.active(now) else ("revoked" if link.revoked_ts else "expired")
        expires = time.strftime("%Y-%m-%d %H:%M", time.localtime(link.expires_ts))
        click.echo(f"{link.id}\t{state}\t{expires}\t{link.created_by}\t{link.note}")


@share_cli.command("revoke")
@click.argument("link_id")
@click.option("--by", "actor", default=None, help="Who (default: cli:<login name>).")
def share_revoke(link_id: str, actor: str | None) -> None:
    """Revoke a link; a running server refuses it from its next request on."""
    who = actor or f"cli:{getpass.getuser()}"
    link = _share_links().revoke(link_id, who)
    if link is None:
        _fail(f"no share link {link_id!r}")
        return
    _audit(who, "share_link_revoked", outcome=link.id)
    click.echo(f"revoked {link.id}")


def register(app: Flask) -> None:
    from dashboard.engine_process import engine_command

    app.cli.add_command(engine_command)
    app.cli.add_command(kill_switch)
    app.cli.add_command(users_cli)
    app.cli.add_command(share_cli)
