"""The documented production deployment (deploy/nginx/haven.conf): nginx accepts the file (`nginx -t`), and,
run in front of a real ``haven serve`` on loopback, it serves the API over TLS, cuts off a client that
trickles its headers, refuses an oversized body and hides the worker header. Skipped without nginx
(``apt-get install nginx-light``)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_live import REPO, ServeProcess, free_port, serve_process

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
CONF = REPO / "deploy" / "nginx" / "haven.conf"
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx not installed (apt-get install nginx-light)")


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    crt, pem = folder / "fullchain.pem", folder / "privkey.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def _site(folder: Path, *, listen: int, upstream: int, header_timeout: str | None = None) -> Path:
    """deploy/nginx/haven.conf with this test's ports and certificate (and, where asked, a shorter header
    timeout so the test need not wait 10 s), inside a minimal nginx.conf of its own."""
    crt, pem = _self_signed(folder)
    site = CONF.read_text()
    for old, new in ((r"listen 443 ssl;", f"listen 127.0.0.1:{listen} ssl;"),
                     (r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{upstream};"),
                     (r"/etc/haven/tls/fullchain\.pem", str(crt)),
                     (r"/etc/haven/tls/privkey\.pem", str(pem))):
        site, n = re.subn(old, new, site)
        assert n == 1, f"{old!r} not found once in {CONF}"
    if header_timeout:
        site, n = re.subn(r"client_header_timeout \S+;", f"client_header_timeout {header_timeout};", site)
        assert n == 1
    (folder / "haven.conf").write_text(site)
    temp = folder / "temp"
    temp.mkdir()
    os.chmod(folder, 0o755)
    os.chmod(temp, 0o777)  # nginx workers run as an unprivileged user when started as root
    main = folder / "nginx.conf"
    main.write_text(f"""daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {folder}/haven.conf;
}}
""")
    return main


def test_nginx_accepts_the_documented_configuration(tmp_path: Path) -> None:
    main = _site(tmp_path, listen=free_port(), upstream=8000)
    done = subprocess.run([NGINX, "-t", "-c", str(main), "-p", str(tmp_path)],  # type: ignore[list-item]
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, ServeProcess]]:
    folder = tmp_path_factory.mktemp("nginx")
    with serve_process(tmp_path_factory.mktemp("behind") / "data") as svc:
        port = free_port()
        main = _site(folder, listen=port, upstream=svc.port, header_timeout="1s")
        proc = subprocess.Popen([NGINX, "-c", str(main), "-p", str(folder)],  # type: ignore[list-item]
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError((folder / "error.log").read_text()) from None
                    time.sleep(0.05)
            yield f"https://127.0.0.1:{port}", port, svc
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_api_through_the_proxy(proxied: tuple[str, int, ServeProcess]) -> None:
    url, _, svc = proxied
    with httpx.Client(base_url=url, verify=False, timeout=10) as c:
        r = c.get("/v1/banks", headers={"Authorization": f"Bearer {svc.match}"})
        assert r.status_code == 200, r.text
        assert "x-haven-worker" not in r.headers
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert c.get("/v1/banks").status_code == 401
        # Over client_max_body_size: nginx answers 413 itself.
        big = c.post("/v1/hash", content=b"\0" * (52 * 1024 * 1024),
                     headers={"Authorization": f"Bearer {svc.match}",
                              "Content-Type": "application/octet-stream"})
        assert big.status_code == 413


def test_slow_headers_cut_off_at_the_proxy(proxied: tuple[str, int, ServeProcess]) -> None:
    import ssl

    _, port, _ = proxied
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw) as tls:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        tls.settimeout(0.3)
        started = time.monotonic()
        closed = float("inf")
        while time.monotonic() - started < 6:
            try:
                if tls.recv(4096) == b"":
                    closed = time.monotonic() - started
                    break
            except TimeoutError:
                tls.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed = time.monotonic() - started
                break
    assert closed < 3, closed
