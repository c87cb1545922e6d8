"""The Apprise channel: optional install, URL secrets kept out of errors, same dispatcher rules."""

from __future__ import annotations

import io
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

from notifier.alerts import EMERGENCY, NORMAL, Alert
from notifier.apprise_channel import AppriseChannel, split_urls
from notifier.dispatcher import Dispatcher
from notifier.outbox import Outbox
from notifier.pushover import PushoverChannel
from tests.notifier.conftest import wait_until
from tests.notifier.pushover_fake import PushoverFake

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TELEGRAM = f"tgram://{BOT_TOKEN}/-1001234567"
SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"


class FakeAppriseModule(ModuleType):
    """Apprise's public surface (Apprise, NotifyType, LogCapture), behaving like it: URLs with
    an unknown scheme are refused by add(); a failing service logs why and notify() is False."""

    KNOWN = ("tgram", "slack", "discord", "mailto", "json")

    def __init__(self) -> None:
        super().__init__("apprise")
        self.failures: list[str] = []  # the next notify() calls fail, logging these
        self.sent: list[dict[str, Any]] = []
        self.NotifyType = SimpleNamespace(INFO="info", WARNING="warning", FAILURE="failure")
        module = self
        log = io.StringIO()
        self._log = log

        class Apprise:
            def __init__(self) -> None:
                self.urls: list[str] = []

            def add(self, url: str) -> bool:
                if url.split("://", 1)[0] not in module.KNOWN:
                    return False
                self.urls.append(url)
                return True

            def notify(self, body: str, title: str = "", notify_type: str = "info") -> bool:
                if module.failures:
                    log.write(module.failures.pop(0) + "\n")
                    return False
                module.sent.append(
                    {"urls": list(self.urls), "body": body, "title": title, "type": notify_type}
                )
                return True

        class LogCapture:
            def __init__(self, level: int = 0) -> None:
                self.level = level

            def __enter__(self) -> io.StringIO:
                log.seek(0)
                log.truncate()
                return log

            def __exit__(self, *exc: object) -> None:
                pass

        self.Apprise = Apprise
        self.LogCapture = LogCapture


def _loader(module: ModuleType) -> Callable[[], ModuleType]:
    return lambda: module


def _missing() -> ModuleType:
    raise ImportError("No module named 'apprise'")


def _alert(priority: int = NORMAL) -> Alert:
    return Alert(key="k", title="Vigil engine DEGRADED", message="feed stale", priority=priority)


def test_split_urls_then_commas_and_whitespace_separate() -> None:
    assert split_urls(f" {TELEGRAM}, {SLACK}\n json://127.0.0.1:9/ ") == [
        TELEGRAM,
        SLACK,
        "json://127.0.0.1:9/",
    ]


def test_urls_set_but_apprise_missing_then_unconfigured_with_reason() -> None:
    channel = AppriseChannel([TELEGRAM], loader=_missing)

    result = channel.send(_alert())

    assert not channel.configured
    assert channel.unconfigured_reason == "VIGIL_APPRISE_URLS is set but apprise is not installed"
    assert not result.ok and result.kind == "config"


def test_no_urls_then_apprise_never_imported() -> None:
    channel = AppriseChannel([], loader=_missing)

    assert not channel.configured and channel.unconfigured_reason is None


def test_send_then_every_url_notified_with_type_from_priority() -> None:
    module = FakeAppriseModule()
    channel = AppriseChannel([TELEGRAM, SLACK], loader=_loader(module))

    normal, emergency = channel.send(_alert()), channel.send(_alert(EMERGENCY))

    assert normal.ok and emergency.ok
    assert module.sent[0] == {
        "urls": [TELEGRAM, SLACK],
        "body": "feed stale",
        "title": "Vigil engine DEGRADED",
        "type": "info",
    }
    assert module.sent[1]["type"] == "failure"


def test_service_failure_then_retryable_with_secrets_redacted() -> None:
    module = FakeAppriseModule()
    module.failures.append(f"Failed to send Telegram notification to {BOT_TOKEN}: HTTP 502")
    channel = AppriseChannel([TELEGRAM], loader=_loader(module))

    result = channel.send(_alert())

    assert not result.ok and result.retryable
    assert result.error == "apprise: Failed to send Telegram notification to ***: HTTP 502"
    assert BOT_TOKEN not in repr(channel) and repr(channel) == "AppriseChannel(schemes=[tgram])"


def test_unparseable_url_then_client_error_not_retried_naming_only_scheme() -> None:
    channel = AppriseChannel(
        [TELEGRAM, "nosuch://secret-value-123"], loader=_loader(FakeAppriseModule())
    )

    result = channel.send(_alert())

    assert not result.ok and not result.retryable and result.kind == "client_error"
    assert result.error == "invalid Apprise URL #2 (nosuch://)"


def test_dispatcher_with_both_channels_then_each_delivered_and_retried_on_its_own(
    pushover: PushoverFake,
    channel: PushoverChannel,
    outbox: Outbox,
    make_dispatcher: Callable[..., Dispatcher],
) -> None:
    module = FakeAppriseModule()
    module.failures.append("Slack answered 503")
    apprise = AppriseChannel([SLACK], loader=_loader(module))
    dispatcher = make_dispatcher([channel, apprise], outbox)
    dispatcher.start()

    dispatcher.submit(_alert(EMERGENCY))

    assert wait_until(lambda: outbox.counts()["delivered"] == 2)
    assert outbox.deliveries(1) == {
        "pushover": ("delivered", 1, None),
        "apprise": ("delivered", 2, None),
    }
    assert len(pushover.requests) == 1 and len(module.sent) == 1
    states = {s["name"]: s["state"] for s in dispatcher.status()}
    assert states == {"pushover": "ok", "apprise": "ok"}
