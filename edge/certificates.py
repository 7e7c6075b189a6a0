"""A hall's own certificate authority for its broker: the CA, the broker's certificate, devices' client certificates.

TLS on the hall LAN needs a certificate the clients can check the broker against. A public CA does not issue one
for a box on a private address, so each hall has its own: `ca.crt` goes to every client (as `tls_ca`), `ca.key`
stays with the hall's IT person, off the box. Where a hall prefers client certificates to passwords, the same CA
signs one per device; its common name is the device's broker user name — its id, as `hallops devices add` makes it
(edge.credentials) — so mosquitto's `use_identity_as_username` gives the device the ACL entries its password would.

Keys are ECDSA P-256 (every TLS stack a device is likely to have speaks it, and it is far cheaper for a small CPU
than RSA of the same strength), written 0600; the certificates carry what a strict verifier wants (CA constraints,
key usage, key identifiers, subject alternative names). Nothing is overwritten unless asked (`force`), and a pair is
written whole or not at all. This module writes files and nothing else: it must not touch the broker's configuration
or the credential registry.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devices.errors import HallOpsError
from devices.topics import Channel, DeviceType, build_topic

CA_NAME = "ca"  # ca.crt and ca.key
BROKER_NAME = "broker"  # broker.crt and broker.key, as deploy/mosquitto/hallops.conf names them
GATEWAY = "gateway"  # the gateway's own broker user, as `hallops devices add --type gateway` names its type
CA_DAYS = 3650
LEAF_DAYS = 1825
_CLOCK_SKEW = timedelta(hours=1)  # valid from an hour ago: a device whose clock is a little behind still accepts it


class CertificateError(HallOpsError):
    """A certificate that cannot be made (the message says why and what to do)."""


@dataclass(frozen=True, slots=True)
class Pair:
    """Where a certificate and its key were written."""

    certificate: Path
    key: Path


def make_ca(out: Path, hall: str, *, days: int = CA_DAYS, force: bool = False) -> Pair:
    """The hall's CA: `out`/ca.crt (for every client and the broker) and `out`/ca.key (keep it off the box)."""
    _check_id("hall", hall)
    _refuse_existing(out, CA_NAME, force)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(hall, f"hallops {hall} CA")
    now = datetime.now(UTC)
    cert = (
        _builder(name, name, key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(out, CA_NAME, cert, key)


def make_broker(
    ca: Path,
    out: Path,
    hosts: Sequence[str],
    ips: Sequence[str],
    *,
    days: int = LEAF_DAYS,
    force: bool = False,
    name: str = BROKER_NAME,
) -> Pair:
    """The broker's certificate for the names and addresses clients use to reach it (`out`/broker.crt, .key; `name`
    in place of broker)."""
    if not hosts and not ips:
        raise CertificateError("name at least one --host or --ip: clients check that the broker's certificate has it")
    names: list[x509.GeneralName] = []
    for host in hosts:
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(host)
            # clients match an address against the certificate's addresses only, never its names
            raise CertificateError(f"--host {host!r} is an IP address: give it with --ip")
        names.append(x509.DNSName(host))
    for ip in ips:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise CertificateError(f"--ip {ip!r} is not an IP address (a host name goes with --host)") from None
    return _issue(
        ca,
        out,
        name,
        (hosts or ips)[0],
        ExtendedKeyUsageOID.SERVER_AUTH,
        x509.SubjectAlternativeName(names),
        days,
        force,
    )


def make_device(
    ca: Path, out: Path, device_type: str, device_id: str, *, days: int = LEAF_DAYS, force: bool = False
) -> Pair:
    """A client certificate whose common name is the device's broker user name (`out`/<device_id>.crt, .key)."""
    if device_type != GATEWAY and device_type not in set(DeviceType):
        kinds = ", ".join([*DeviceType, GATEWAY])
        raise CertificateError(f"device type {device_type!r} is not one of {kinds}")
    _check_id("device id", device_id)
    return _issue(ca, out, device_id, device_id, ExtendedKeyUsageOID.CLIENT_AUTH, None, days, force)


def hall_of(ca: Path) -> str:
    """The hall a CA (made by `make_ca`) was made for."""
    cert, _ = _load_ca(ca)
    return _hall(cert)


def issued_by(certificate: Path, ca_certificate: Path) -> bool:
    """Whether `certificate` was signed by the CA whose certificate is `ca_certificate` (False for a file that is not
    a PEM certificate)."""
    try:
        cert = x509.load_pem_x509_certificate(certificate.read_bytes())
        ca = x509.load_pem_x509_certificate(ca_certificate.read_bytes())
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def is_key_of(key: Path, certificate: Path) -> bool:
    """Whether `key` is the private key of `certificate` (False for files that are not PEM)."""
    try:
        cert = x509.load_pem_x509_certificate(certificate.read_bytes())
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return private.public_key() == cert.public_key()


def _issue(
    ca: Path,
    out: Path,
    stem: str,
    common_name: str,
    purpose: x509.ObjectIdentifier,
    alt_names: x509.SubjectAlternativeName | None,
    days: int,
    force: bool,
) -> Pair:
    ca_cert, ca_key = _load_ca(ca)
    _refuse_existing(out, stem, force)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(_name(_hall(ca_cert), common_name), ca_cert.subject, key.public_key(), datetime.now(UTC), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if alt_names is not None:
        builder = builder.add_extension(alt_names, critical=False)
    return _write(out, stem, builder.sign(ca_key, hashes.SHA256()), key)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime, days: int
) -> x509.CertificateBuilder:
    if days < 1:
        raise CertificateError(f"--days {days}: a certificate must be valid for at least a day")
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=days))
    )


def _name(hall: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hallops"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, hall),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _hall(ca: x509.Certificate) -> str:
    return str(ca.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value)


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _check_id(label: str, value: str) -> None:
    """The rule topics put on ids (letters, digits, `_-.`, at most 64): a user name that cannot be in a topic could
    never match its ACL entries."""
    try:
        build_topic(value, DeviceType.QMS, value, Channel.CMD)
    except ValueError:
        raise CertificateError(f"{label} {value!r} is not a valid id (letters, digits, '_', '-', '.'; ≤ 64)") from None


def _load_ca(ca: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = ca / f"{CA_NAME}.crt", ca / f"{CA_NAME}.key"
    if not cert_path.is_file() or not key_path.is_file():
        raise CertificateError(
            f"no CA in {ca} (it needs {CA_NAME}.crt and {CA_NAME}.key): make one with "
            f"`hallops certs ca --out {ca} --hall HALL`"
        )
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateError(f"cannot read the CA in {ca}: {exc}") from None
    except PermissionError:
        raise CertificateError(f"cannot read {key_path}: run this as the user who made the CA") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise CertificateError(f"{key_path} is not the key of {cert_path}")
    if not cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME):
        raise CertificateError(f"{cert_path} was not made by `hallops certs ca` (it names no hall)")
    return cert, key


def _refuse_existing(out: Path, stem: str, force: bool) -> None:
    existing = [p for p in (out / f"{stem}.crt", out / f"{stem}.key") if p.exists()]
    if existing and not force:
        raise CertificateError(
            f"{' and '.join(map(str, existing))} already exist{'s' if len(existing) == 1 else ''}: "
            "kept (--force replaces them; every client that trusts or uses the old one then needs the new one)"
        )


def _write(out: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pair:
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    pair = Pair(out / f"{stem}.crt", out / f"{stem}.key")
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # the key first: a certificate without its key is of no use, a key without its certificate is harmless
    _replace(pair.key, pem_key, 0o600)
    _replace(pair.certificate, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return pair


def _replace(path: Path, data: bytes, mode: int) -> None:
    """Write a file whole under a temporary name (created with `mode`, so a key is never readable by others), then
    move it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["CertificateError", "Pair", "hall_of", "is_key_of", "issued_by", "make_broker", "make_ca", "make_device"]
