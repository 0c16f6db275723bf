"""``--tls``: a local certificate authority and a server certificate, made once under the data dir.

azure-identity and MSAL refuse plain-http authorities; clients trust this CA through
``REQUESTS_CA_BUNDLE`` (or ``connection_verify``) and then talk https to amlite.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")

# How long the server waits for a client's close_notify after sending its own when it closes a TLS
# connection. asyncio waits 30 s by default, so a single idle keep-alive connection (an SDK client
# keeping one in its pool) held a stopping ``amlite serve --tls`` for 30 s. The closing side need not
# wait for the reply (RFC 8446 section 6.1); plain-http connections close at once.
CLOSE_NOTIFY_TIMEOUT = 2.0


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    cert: Path
    key: Path


class ServerEventLoop(asyncio.SelectorEventLoop):
    """The asyncio event loop, whose TLS servers wait at most ``CLOSE_NOTIFY_TIMEOUT`` for a close_notify."""

    async def create_server(self, *args, **kwargs):
        if kwargs.get("ssl") is not None and kwargs.get("ssl_shutdown_timeout") is None:
            kwargs["ssl_shutdown_timeout"] = CLOSE_NOTIFY_TIMEOUT
        return await super().create_server(*args, **kwargs)


def ensure_local_tls(data_dir: Path, extra_names: tuple[str, ...] = ()) -> TlsFiles:
    folder = data_dir / "tls"
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    names = tuple(dict.fromkeys((*DEFAULT_NAMES, *extra_names)))
    if files.ca_cert.exists() and files.cert.exists() and files.key.exists() and _covers(files.cert, names):
        return files
    folder.mkdir(parents=True, exist_ok=True)
    ca_key_path = folder / "ca-key.pem"
    if files.ca_cert.exists() and ca_key_path.exists():
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    else:
        ca_key, ca_cert = _make_ca()
        _write_private(ca_key_path, ca_key)
        files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server_key = ec.generate_private_key(ec.SECP256R1())
    cert = _make_server_cert(ca_key, ca_cert, server_key, names)
    _write_private(files.key, server_key)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _make_ca():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "amlite local CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_server_cert(ca_key, ca_cert, key, names: tuple[str, ...]):
    alt_names: list[x509.GeneralName] = []
    for name in names:
        address = _ip_address(name)
        alt_names.append(x509.IPAddress(address) if address else x509.DNSName(name))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _covers(cert_path: Path, names: tuple[str, ...]) -> bool:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if cert.not_valid_after_utc < _now() + dt.timedelta(days=1):
        return False
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    present = {str(v) for v in sans.get_values_for_type(x509.DNSName)}
    present |= {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
    return all(_canonical(n) in present for n in names)


def _ip_address(name: str):
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _canonical(name: str) -> str:
    address = _ip_address(name)
    return str(address) if address else name


def _write_private(path: Path, key) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
