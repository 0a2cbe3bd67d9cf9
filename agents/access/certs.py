"""A private CA and the broker's TLS certificate for a local Kafka broker (``cryptography``).

Files are PEM; the broker reads ``broker.pem`` (PKCS#8 key, then its chain) as a PEM keystore.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = dt.timedelta(days=3650)
BROKER_VALIDITY = dt.timedelta(days=825)
#: a broker certificate closer than this to its end is issued again at the next start
RENEW_BEFORE = dt.timedelta(days=30)
#: what clients dial: ``127.0.0.1`` (the advertised listener), ``localhost`` and ``::1``
DEFAULT_DNS_NAMES: tuple[str, ...] = ("localhost",)
DEFAULT_IPS: tuple[str, ...] = ("127.0.0.1", "::1")


class _InDirectory(Protocol):
    @property
    def directory(self) -> Path: ...


class InDirectory:
    """A file of an object's ``directory``, by name: ``ca_cert = InDirectory("ca.pem")``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, files: _InDirectory, owner: object = None) -> Path:
        return files.directory / self.name


@dataclass(frozen=True)
class PkiFiles:
    """Where one broker's PKI lives (all inside ``directory``)."""

    directory: Path
    ca_cert = InDirectory("ca.pem")
    ca_key = InDirectory("ca-key.pem")
    #: the broker's keystore: its private key then its certificate and the CA's
    broker_pem = InDirectory("broker.pem")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only, atomically (no moment with wider perms)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # Kafka's PEM keystore wants PKCS#8; unencrypted because the file itself is 0600.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _common_name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    now: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    """A certificate of ``public`` with a fresh serial, valid from five minutes before ``now``."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
    )


#: x509.KeyUsage's flags
_KeyUsageName = Literal[
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
]


def _key_usage(*granted: _KeyUsageName) -> x509.KeyUsage:
    """The ``granted`` key usages on, every other one off."""
    return x509.KeyUsage(**{name: name in granted for name in get_args(_KeyUsageName)})


def new_ca(
    common_name: str = "dossierflow local CA", now: dt.datetime | None = None
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA that may sign end-entity certificates only (path length 0)."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _common_name(common_name)
    public = key.public_key()
    cert = (
        _builder(name, name, public, now, now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage("key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def new_server_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str = "dossierflow kafka broker",
    dns_names: Sequence[str] = DEFAULT_DNS_NAMES,
    ips: Sequence[str] = DEFAULT_IPS,
    now: dt.datetime | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A TLS server certificate signed by the CA, valid for ``dns_names`` and ``ips``."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        _builder(
            _common_name(common_name),
            ca_cert.subject,
            public,
            now,
            min(now + BROKER_VALIDITY, ca_cert.not_valid_after_utc),
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage("digital_signature", "key_agreement"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _needs_renewal(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_after_utc - now < RENEW_BEFORE


def ensure_pki(directory: Path, now: dt.datetime | None = None) -> tuple[PkiFiles, list[str]]:
    """Create the CA and broker certificate under ``directory`` unless they exist and are valid.

    Returns the files and what was done (``"ca"``, ``"broker"``), for the caller to log. The
    CA is kept across starts so clients' trust in ``ca.pem`` survives; the broker certificate
    is issued again when missing or within ``RENEW_BEFORE`` of its end.
    """
    now = now or dt.datetime.now(dt.UTC)
    files = PkiFiles(directory)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    done: list[str] = []
    ca_key: ec.EllipticCurvePrivateKey | None = None
    ca_cert: x509.Certificate | None = None
    if files.ca_cert.exists() and files.ca_key.exists():
        ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        loaded = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{files.ca_key}: expected an EC private key (delete it to renew)")
        ca_key = loaded
    if ca_key is None or ca_cert is None or _needs_renewal(ca_cert, now):
        ca_key, ca_cert = new_ca(now=now)
        write_private(files.ca_key, _key_pem(ca_key))
        files.ca_cert.write_bytes(_pem(ca_cert))
        done.append("ca")
    if "ca" in done or not files.broker_pem.exists() or _broker_stale(files, ca_cert, now):
        key, cert = new_server_cert(ca_key, ca_cert, now=now)
        write_private(files.broker_pem, _key_pem(key) + _pem(cert) + _pem(ca_cert))
        done.append("broker")
    return files, done


def _broker_stale(files: PkiFiles, ca_cert: x509.Certificate, now: dt.datetime) -> bool:
    certs = x509.load_pem_x509_certificates(files.broker_pem.read_bytes())
    return not certs or certs[0].issuer != ca_cert.subject or _needs_renewal(certs[0], now)


def load_broker_cert(files: PkiFiles) -> x509.Certificate:
    """The broker's own certificate (the first one in ``broker.pem``)."""
    return x509.load_pem_x509_certificates(files.broker_pem.read_bytes())[0]
