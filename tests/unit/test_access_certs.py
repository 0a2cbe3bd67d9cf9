"""The local CA and broker certificate: SANs, validity, key usage, renewal, file modes."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from agents.access.certs import BROKER_VALIDITY, RENEW_BEFORE, ensure_pki, load_broker_cert

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_broker_certificate_names_every_loopback_address(tmp_path: Path) -> None:
    files, done = ensure_pki(tmp_path, now=NOW)
    assert done == ["ca", "broker"]
    cert = load_broker_cert(files)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }


def test_broker_certificate_is_a_server_leaf_signed_by_the_ca(tmp_path: Path) -> None:
    files, _ = ensure_pki(tmp_path, now=NOW)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    cert = load_broker_cert(files)
    cert.verify_directly_issued_by(ca)  # raises if not
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= BROKER_VALIDITY + dt.timedelta(
        minutes=5
    )
    assert cert.not_valid_before_utc <= NOW < cert.not_valid_after_utc
    leaf = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert not leaf.ca and usage.digital_signature and not usage.key_cert_sign
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ca_constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert ca_constraints.critical and ca_constraints.value.ca
    assert ca_constraints.value.path_length == 0
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_keys_are_private_and_the_keystore_holds_key_then_chain(tmp_path: Path) -> None:
    files, _ = ensure_pki(tmp_path, now=NOW)
    for secret in (files.ca_key, files.broker_pem):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    text = files.broker_pem.read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, as Kafka's PEM keystore wants
    assert text.count("BEGIN CERTIFICATE") == 2


def test_a_second_start_keeps_everything(tmp_path: Path) -> None:
    files, _ = ensure_pki(tmp_path, now=NOW)
    before = files.broker_pem.read_bytes(), files.ca_cert.read_bytes()
    _, done = ensure_pki(tmp_path, now=NOW + dt.timedelta(days=1))
    assert done == []
    assert (files.broker_pem.read_bytes(), files.ca_cert.read_bytes()) == before


def test_a_broker_certificate_near_its_end_is_issued_again_under_the_same_ca(
    tmp_path: Path,
) -> None:
    files, _ = ensure_pki(tmp_path, now=NOW)
    ca_before = files.ca_cert.read_bytes()
    old = load_broker_cert(files)
    later = old.not_valid_after_utc - RENEW_BEFORE + dt.timedelta(hours=1)
    _, done = ensure_pki(tmp_path, now=later)
    assert done == ["broker"]
    assert files.ca_cert.read_bytes() == ca_before
    assert load_broker_cert(files).serial_number != old.serial_number
