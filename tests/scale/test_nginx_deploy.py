"""The README's Deploy section as a user follows it: deploy/nginx/vigil.conf (TLS, websocket
upgrade) in front of two web processes and one engine over a real Redis; a page through nginx."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
import urllib3

from tests.conftest import ADMIN_PASSWORD, wait_until
from tests.scale.processes import EngineProcess, RedisServer
from tests.server_process import ROOT, ServerProcess, free_port

pytestmark = pytest.mark.slow


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        message = "nginx is not installed (apt-get install nginx)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: the deploy example must be exercised there
        pytest.skip(message)
    return found


def self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def site_config(webs: list[ServerProcess], https_port: int, cert: Path, key: Path) -> str:
    """The shipped example with only what a user edits: ports, certificate, server name."""
    conf = (ROOT / "deploy" / "nginx" / "vigil.conf").read_text()
    upstreams = "".join(f"    server 127.0.0.1:{web.port};\n" for web in webs)
    conf = re.sub(r"(    server 127\.0\.0\.1:800\d;.*\n)+", upstreams, conf)
    conf = re.sub(r"listen 80;\n\s*listen \[::\]:80;", f"listen 127.0.0.1:{free_port()};", conf)
    conf = conf.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    conf = conf.replace("listen [::]:443 ssl;", "")
    conf = conf.replace("/etc/letsencrypt/live/vigil.example.com/fullchain.pem", str(cert))
    conf = conf.replace("/etc/letsencrypt/live/vigil.example.com/privkey.pem", str(key))
    return conf.replace("server_name vigil.example.com;", "server_name localhost;")


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[str, list[ServerProcess]]]:
    nginx = nginx_binary()
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    redis_server = RedisServer(tmp_path / "redis").start()
    https_port = free_port()
    # The README's settings behind the proxy; no VIGIL_ALLOWED_ORIGINS: nginx forwards the host.
    env = {
        "VIGIL_REDIS_URL": redis_server.url,
        "VIGIL_TRUST_PROXY": "1",
        "VIGIL_SECURE_COOKIES": "1",
        "VIGIL_STRATEGY": "none",
    }
    engine = EngineProcess(tmp_path / "var", **env).start()
    webs = [ServerProcess(tmp_path / "var", **env).start() for _ in range(2)]
    cert, key = self_signed(tmp_path)
    (tmp_path / "vigil.conf").write_text(site_config(webs, https_port, cert, key))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/nginx-error.log;\nevents {{}}\n"
        f"http {{\n access_log off;\n include {tmp_path}/vigil.conf;\n}}\n"
    )
    proxy = subprocess.Popen(
        [nginx, "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    origin = f"https://localhost:{https_port}"
    try:

        def up() -> bool:
            assert proxy.poll() is None, (tmp_path / "nginx-error.log").read_text()
            try:
                return requests.get(f"{origin}/readyz", verify=False, timeout=2).ok
            except requests.RequestException:
                return False

        wait_until(up, 30, "nginx in front of a ready web process")
        yield origin, webs
    finally:
        proxy.terminate()
        proxy.wait(10)
        for web in webs:
            web.stop()
        engine.stop()
        redis_server.stop()


def test_through_nginx_then_login_pages_and_a_kill_switch_reach_every_process(
    deployed: tuple[str, list[ServerProcess]],
) -> None:
    origin, webs = deployed
    session = requests.Session()
    login = session.post(
        f"{origin}/api/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"Origin": origin},
        timeout=15,
        verify=False,
    )
    assert login.status_code == 200, login.text  # same origin, through the forwarded host
    assert all(cookie.secure for cookie in session.cookies)
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    told: list[threading.Event] = []
    pages: list[socketio.Client] = []
    try:
        for _ in range(3):
            heard = threading.Event()
            page = socketio.Client(reconnection=False, ssl_verify=False)
            page.on("kill_switch_activated", lambda _data, heard=heard: heard.set())
            first: dict[str, Any] = {}
            page.on("initial_state", lambda snap, first=first: first.update(snap))
            page.connect(origin, headers={"Cookie": cookie}, transports=["websocket"])
            wait_until(lambda first=first: first, 15, "initial_state through nginx")
            pages.append(page)
            told.append(heard)
        engaged = session.post(
            f"{origin}/api/control/kill_switch",
            json={"level": "halt", "reason": "through nginx"},
            headers={"Origin": origin},
            timeout=15,
            verify=False,
        ).json()
        assert engaged["ok"] and engaged["trading_state"] == "HALTED", engaged
        assert all(heard.wait(15) for heard in told)
        for web in webs:  # each web process answers for the one engine
            wait_until(lambda web=web: web.health()["trading_state"] == "HALTED", 15, "HALTED")
        refused = requests.post(
            f"{origin}/api/login",
            json={"username": "admin", "password": ADMIN_PASSWORD},
            headers={"Origin": "https://evil.example"},
            timeout=15,
            verify=False,
        )
        assert refused.status_code == 403  # the origin check still holds behind the proxy
    finally:
        for page in pages:
            page.disconnect()
