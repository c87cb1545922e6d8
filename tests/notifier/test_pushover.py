"""The Pushover channel against a loopback server that speaks Pushover's API."""

from __future__ import annotations

import socket

import pytest

from notifier.alerts import EMERGENCY, HIGH, Alert
from notifier.pushover import PushoverChannel
from tests.notifier.conftest import FAST_TIMEOUT
from tests.notifier.pushover_fake import HANG, TOKEN, USER, PushoverFake, Reply

CREATED_MS = 1_767_225_600_123


def _alert(**overrides: object) -> Alert:
    fields: dict = {
        "key": "k",
        "title": "Circuit breaker tripped: drawdown",
        "message": "Drawdown 5.2% against threshold 5%; action HALTED.",
        "priority": HIGH,
        "sound": "siren",
        "created_ts": CREATED_MS,
    }
    fields.update(overrides)
    return Alert(**fields)


def test_send_when_accepted_then_exact_form_fields_and_quota(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    result = channel.send(_alert(url="http://127.0.0.1:5000/"))

    assert result.ok and result.request_id == "req-0001"
    assert pushover.requests == [
        {
            "token": TOKEN,
            "user": USER,
            "title": "Circuit breaker tripped: drawdown",
            "message": "Drawdown 5.2% against threshold 5%; action HALTED.",
            "priority": "1",
            "sound": "siren",
            "timestamp": "1767225600",
            "url": "http://127.0.0.1:5000/",
        }
    ]
    assert pushover.content_types[0].startswith("application/x-www-form-urlencoded")
    assert result.quota is not None
    assert (result.quota.limit, result.quota.remaining) == (10_000, 8_999)
    assert result.quota.reset_ts == 1_769_904_000_000


def test_send_emergency_then_retry_and_expire_within_pushover_limits(
    pushover: PushoverFake,
) -> None:
    channel = PushoverChannel(
        USER, TOKEN, pushover.url, emergency_retry_s=5, emergency_expire_s=86_400
    )

    result = channel.send(_alert(priority=EMERGENCY))

    assert result.ok, result.error
    sent = pushover.requests[0]
    assert (sent["priority"], sent["retry"], sent["expire"]) == ("2", "30", "10800")


def test_send_non_emergency_then_no_retry_or_expire_fields(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    channel.send(_alert(priority=0, sound=None))

    assert "retry" not in pushover.requests[0] and "expire" not in pushover.requests[0]
    assert "sound" not in pushover.requests[0]


def test_send_long_title_and_message_then_cut_to_pushover_limits(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    result = channel.send(_alert(title="T" * 400, message="M" * 5000))

    assert result.ok, result.error
    sent = pushover.requests[0]
    assert len(sent["title"]) == 250 and len(sent["message"]) == 1024
    assert sent["message"].endswith("…")


def test_send_priority_out_of_range_then_clamped() -> None:
    channel = PushoverChannel(USER, TOKEN)

    assert channel.form(_alert(priority=7))["priority"] == "2"
    assert channel.form(_alert(priority=-9))["priority"] == "-2"


def test_send_with_invalid_token_then_client_error_not_retryable(pushover: PushoverFake) -> None:
    channel = PushoverChannel(USER, "wrongtoken-wrongtoken-wrongto", pushover.url)

    result = channel.send(_alert())

    assert not result.ok and not result.retryable
    assert result.kind == "client_error" and result.status_code == 400
    assert result.error == "HTTP 400: application token is invalid"


def test_send_when_quota_spent_then_429_rate_limited_with_quota(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    pushover.remaining = 0

    result = channel.send(_alert())

    assert not result.ok and not result.retryable and result.kind == "rate_limited"
    assert result.status_code == 429 and "message limit reached" in (result.error or "")
    assert result.quota is not None and result.quota.remaining == 0


def test_send_when_server_error_then_retryable(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    pushover.push(Reply(503, "<html>down for maintenance</html>"))

    result = channel.send(_alert())

    assert not result.ok and result.retryable and result.kind == "server_error"
    assert result.error == "HTTP 503: <html>down for maintenance</html>"


def test_send_when_server_hangs_then_times_out_as_retryable_network_error(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    pushover.push(HANG)

    result = channel.send(_alert())

    assert not result.ok and result.retryable and result.kind == "network"
    assert (result.error or "").startswith("timed out")
    assert channel.timeout == FAST_TIMEOUT


def test_send_when_nothing_listens_then_retryable_network_error() -> None:
    # Bound but not listening: refused, and no other test can take the port meanwhile.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        channel = PushoverChannel(USER, TOKEN, f"http://127.0.0.1:{port}/1/messages.json")
        result = channel.send(_alert())

    assert not result.ok and result.retryable and result.kind == "network"


def test_errors_and_repr_when_secrets_echoed_then_redacted(
    pushover: PushoverFake, channel: PushoverChannel
) -> None:
    pushover.push(Reply(400, {"status": 0, "errors": [f"token {TOKEN} for user {USER} is bad"]}))

    result = channel.send(_alert())

    assert result.error == "HTTP 400: token *** for user *** is bad"
    assert TOKEN not in repr(channel) and USER not in repr(channel)


def test_channel_without_token_then_unconfigured_and_sends_nothing(
    pushover: PushoverFake,
) -> None:
    channel = PushoverChannel(USER, None, pushover.url)

    result = channel.send(_alert())

    assert not channel.configured and channel.unconfigured_reason == "PUSHOVER_API_TOKEN is not set"
    assert result.kind == "config" and pushover.requests == []
    assert PushoverChannel(None, None).unconfigured_reason is None


def test_send_with_public_url_then_every_alert_links_to_the_kill_switch_dialog(
    pushover: PushoverFake,
) -> None:
    channel = PushoverChannel(USER, TOKEN, pushover.url, public_url="https://vigil.example.com/")

    assert channel.send(_alert()).ok
    assert channel.send(_alert(key="k2", priority=EMERGENCY)).ok

    for form in pushover.requests:
        assert form["url"] == "https://vigil.example.com/?kill=1"
        assert form["url_title"] == "Open Vigil · kill switch"


def test_send_without_public_url_then_no_link() -> None:
    channel = PushoverChannel(USER, TOKEN, "http://127.0.0.1:9/")

    assert "url" not in channel.form(_alert())
    assert "url_title" not in channel.form(_alert())


def test_public_url_setting_then_channel_built_with_it() -> None:
    from engine.settings_group import SettingsError, load_group
    from notifier.config import build_channels
    from notifier.settings import AlertSettings

    alerts = load_group(AlertSettings, {"VIGIL_PUBLIC_URL": "https://vigil.example.com/"})
    pushover = build_channels(alerts)[0]
    assert isinstance(pushover, PushoverChannel)
    assert pushover.kill_url == "https://vigil.example.com/?kill=1"
    with pytest.raises(SettingsError, match="VIGIL_PUBLIC_URL"):
        load_group(AlertSettings, {"VIGIL_PUBLIC_URL": "vigil.example.com"})
