"""The signal inbox: signals from strategies and the webhook, filtered, then queued or sent."""
