"""Loopback fakes of venue APIs that the real SDKs talk to in tests (127.0.0.1 only)."""
