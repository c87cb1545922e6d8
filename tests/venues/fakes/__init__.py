"""Loopback fakes of the venues' servers: real sockets on 127.0.0.1 that the real SDKs talk to."""
