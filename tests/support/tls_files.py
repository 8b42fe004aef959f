"""A throwaway CA and a server certificate for 127.0.0.1, made with the machine's openssl."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path

    def server_args(self) -> list[str]:
        """redis-server flags: TLS on the port given as --tls-port, clients not asked for certs."""
        return [
            "--tls-cert-file", str(self.cert),
            "--tls-key-file", str(self.key),
            "--tls-ca-cert-file", str(self.ca),
            "--tls-auth-clients", "no",
        ]  # fmt: skip


def make_tls_files(directory: Path) -> TlsFiles:
    """A CA, and a certificate it signed for IP 127.0.0.1 (valid one day)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is needed to make test certificates")
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, request = directory / "redis.crt", directory / "redis.key", directory / "redis.csr"
    names = directory / "san.ext"
    names.write_text("subjectAltName=IP:127.0.0.1\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request],
        ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial"],
    ]
    subjects = [["-days", "1", "-subj", "/CN=scheduler test CA"], ["-subj", "/CN=127.0.0.1"]]
    subjects.append(["-days", "1", "-extfile", names, "-out", cert])
    for step, extra in zip(steps, subjects, strict=True):
        command = [openssl, *map(str, step), *map(str, extra)]
        subprocess.run(command, check=True, capture_output=True, timeout=30)
    key.chmod(0o600)
    return TlsFiles(ca=ca, cert=cert, key=key)
