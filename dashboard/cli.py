"""Command-line controls that work with the web server down: the kill switch and user accounts."""

from __future__ import annotations

import getpass
import json
import sys
import time

import click
from flask import Flask
from flask.cli import AppGroup

from engine.models import KillLevel
from engine.safety.latch import KillSwitchLatch, LatchCorrupt
from engine.safety.manager import ENGAGED_KEY
from engine.settings import Settings
from engine.store import Store
from engine.users import ROLES, UserError, UserStore

kill_switch = AppGroup("kill-switch", help="Engage, inspect or reset the kill switch latch.")
users_cli = AppGroup("users", help="Manage operator accounts.")


def _settings() -> Settings:
    from flask import current_app

    return current_app.extensions["vigil.settings"]


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
    settings = _settings()
    who = actor or f"cli:{getpass.getuser()}"
    state, changed = KillSwitchLatch(settings.latch_path).engage(
        KillLevel(level), reason.strip(), who, time.time()
    )
    store = Store(settings.db_path)
    try:
        store.set_kv(ENGAGED_KEY, "1")
        if changed:
            store.audit(who, "kill_switch_engaged", reason=reason, outcome=f"{level} (cli)")
    finally:
        store.close()
    word = "engaged" if changed else "already engaged at this level or higher"
    click.echo(f"kill switch {word}: {json.dumps(state.to_dict())}")


@kill_switch.command("status")
def status() -> None:
    """Print the latch as JSON; exit 2 when it cannot be read (the server would start HALTED)."""
    try:
        state = KillSwitchLatch(_settings().latch_path).read()
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
    """Clear the latch: needs an admin's own password, a reason and the word RESET."""
    settings = _settings()
    store = Store(settings.db_path)
    try:
        if len(reason.strip()) < 3:
            _fail("--reason needs at least 3 characters")
        password = _read_password(password_stdin)
        user = UserStore(settings.db_path).verify(username.lower(), password)
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
        KillSwitchLatch(settings.latch_path).reset(user.username, reason.strip(), time.time())
        store.set_kv(ENGAGED_KEY, "0")
        store.audit(user.username, "kill_switch_reset", reason=reason, outcome="cli")
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
        user = UserStore(_settings().db_path).add(name, password, role)
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
        UserStore(_settings().db_path).set_password(name.lower(), password)
    except UserError as exc:
        _fail(str(exc))
    click.echo(f"password changed for {name.lower()}")


@users_cli.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    try:
        UserStore(_settings().db_path).remove(name.lower())
    except UserError as exc:
        _fail(str(exc))
    click.echo(f"removed {name.lower()}")


@users_cli.command("list")
def list_users() -> None:
    for user in UserStore(_settings().db_path).list():
        click.echo(f"{user.username}\t{user.role}")


def register(app: Flask) -> None:
    app.cli.add_command(kill_switch)
    app.cli.add_command(users_cli)
