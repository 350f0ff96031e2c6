"""Helpers for the local servers tests and benchmarks start: stop one, make a TLS certificate."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

OPENSSL = Path("/usr/bin/openssl")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server process (SIGTERM, then SIGKILL after 30 s) and wait for it."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """Make a self-signed EC certificate for 127.0.0.1, offline, and return (cert, key)."""
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [str(OPENSSL), "req", "-x509", "-newkey", "ec", "-pkeyopt"]
        + ["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out"]
        + [str(certificate)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return certificate, key
