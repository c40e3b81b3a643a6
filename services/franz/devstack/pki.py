"""Throwaway certificates for the local Kubernetes: one CA, serving certificates, client certificates.

They live a week and sit in the cluster's own temporary directory; nothing here is meant to be trusted
by anything but the local processes that are handed the CA.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=7)
_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)
_CA_USAGES = ("digital_signature", "key_cert_sign", "crl_sign")


def write_secret_file(path: Path, data: bytes) -> Path:
    """Keys, tokens and certificates are readable by their owner only."""
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class CertificateAuthority:
    """A CA whose key stays in memory; `issue` writes `<name>.crt` and `<name>.key` beside `ca.crt`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "franz-devstack-ca")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            self._builder(self._name, self._key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(**{usage: usage in _CA_USAGES for usage in _KEY_USAGES}),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.path = write_secret_file(
            directory / "ca.crt", certificate.public_bytes(serialization.Encoding.PEM)
        )

    def _builder(
        self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime.datetime
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
        )

    def issue(
        self,
        name: str,
        *,
        common_name: str,
        organizations: tuple[str, ...] = (),
        dns_names: tuple[str, ...] = (),
        ip_addresses: tuple[str, ...] = (),
    ) -> tuple[Path, Path]:
        """A certificate and its key: a serving one when it names hosts, else a client one whose
        common name and organizations Kubernetes reads as user and groups."""
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
        builder = self._builder(x509.Name(attributes), key.public_key(), datetime.datetime.now(datetime.UTC))
        serving = bool(dns_names or ip_addresses)
        if serving:
            alternative_names: list[x509.GeneralName] = [x509.DNSName(host) for host in dns_names]
            alternative_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
            builder = builder.add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if serving else ExtendedKeyUsageOID.CLIENT_AUTH
        certificate = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False).sign(
            self._key, hashes.SHA256()
        )
        cert_path = write_secret_file(
            self.directory / f"{name}.crt", certificate.public_bytes(serialization.Encoding.PEM)
        )
        return cert_path, write_secret_file(self.directory / f"{name}.key", _pem_key(key))


def service_account_key(directory: Path) -> Path:
    """The RSA key that signs and verifies ServiceAccount tokens."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return write_secret_file(
        directory / "service-account.key",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
    )
