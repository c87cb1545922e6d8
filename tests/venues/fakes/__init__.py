"""Loopback fakes of the providers' APIs (one module per endpoint family), for the real SDKs."""
