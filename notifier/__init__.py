"""Vigil's notifier: gets alerts to the operator's phone without ever slowing the engine."""

from notifier.alerts import EMERGENCY, HIGH, LOW, LOWEST, NORMAL, Alert, Channel, SendResult
from notifier.apprise_channel import AppriseChannel
from notifier.config import build_channels, build_dispatcher
from notifier.dispatcher import Dispatcher
from notifier.outbox import Outbox
from notifier.pushover import PushoverChannel
from notifier.rules import DEFAULT_RULES, AlertMapper, Rule
from notifier.settings import AlertSettings

__all__ = [
    "DEFAULT_RULES",
    "EMERGENCY",
    "HIGH",
    "LOW",
    "LOWEST",
    "NORMAL",
    "Alert",
    "AlertMapper",
    "AlertSettings",
    "AppriseChannel",
    "Channel",
    "Dispatcher",
    "Outbox",
    "PushoverChannel",
    "Rule",
    "SendResult",
    "build_channels",
    "build_dispatcher",
]
