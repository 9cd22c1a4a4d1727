"""The certificates the cluster makes for its platform components (Kueue, KEDA, Envoy Gateway): each one's own CA
and the certificates it serves with, kept in the component's folder so a restart keeps the caBundle already
applied. `kept` reads a folder back while its certificate is good for another year, `save` writes one (0600), and
`ca_and_server` makes the usual pair: a CA and one certificate for loopback and the in-cluster names a caller
checks (Kueue's rotator, the API server's aggregator).
"""
from __future__ import annotations

import contextlib
import datetime
import ipaddress
from pathlib import Path

__all__ = ["ca_and_server", "kept", "save"]

ALL = ("ca.crt", "ca.key", "tls.crt", "tls.key")   # what ca_and_server makes


def kept(folder: Path, names: tuple[str, ...] = ALL, leaf: str = "tls.crt") -> dict[str, bytes] | None:
    """The files `names` of `folder` while the certificate `leaf` is valid for more than a year; None when one is
    missing or unreadable, or it expires within the year (then they are made again)."""
    from cryptography import x509
    now = datetime.datetime.now(datetime.timezone.utc)
    with contextlib.suppress(OSError, ValueError):
        files = {n: (folder / n).read_bytes() for n in names}
        if x509.load_pem_x509_certificate(files[leaf]).not_valid_after_utc > now + datetime.timedelta(days=365):
            return files
    return None


def save(folder: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    """Write `files` into `folder`, readable by the user alone; returns them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
        (folder / name).chmod(0o600)
    return files


def ca_and_server(folder: Path, *, ca_name: str, server_name: str, dns: list[str], years: int, key: str = "rsa",
                  client_auth: bool = False) -> dict[str, bytes]:
    """A CA named `ca_name` (its only SAN, as Kueue's rotator checks it) and a certificate it signs for `server_name`,
    valid for `dns`, localhost and 127.0.0.1 (client auth too with `client_auth`: a mutual-TLS peer presents the
    same one), both for `years`, in `folder` (ca.crt, ca.key, tls.crt, tls.key); kept while good for a year (`kept`).
    `key`: "rsa" (2048 bits, PKCS#1 PEM, what Kueue's rotator parses) or "ec" (P-256, PKCS#8 PEM)."""
    files = kept(folder)
    if files:
        return files
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def new_key():
        return (rsa.generate_private_key(public_exponent=65537, key_size=2048) if key == "rsa"
                else ec.generate_private_key(ec.SECP256R1()))

    def pem(k):
        fmt = (serialization.PrivateFormat.TraditionalOpenSSL if key == "rsa"
               else serialization.PrivateFormat.PKCS8)
        return k.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def signed(cn, public, issuer_key, is_ca, sans, extensions):
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(ca_name)).public_key(public)
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=365 * years))
             .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True)
             .add_extension(x509.SubjectAlternativeName(sans), critical=False))
        for ext, critical in extensions:
            b = b.add_extension(ext, critical=critical)
        return b.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    ca_key, srv_key = new_key(), new_key()
    usage = x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                          decipher_only=False)
    purposes = [ExtendedKeyUsageOID.SERVER_AUTH, *([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])]
    return save(folder, {
        "ca.crt": signed(ca_name, ca_key.public_key(), ca_key, True, [x509.DNSName(ca_name)], [(usage, True)]),
        "ca.key": pem(ca_key),
        "tls.crt": signed(server_name, srv_key.public_key(), ca_key, False,
                          [*map(x509.DNSName, [*dns, "localhost"]), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                          [(x509.ExtendedKeyUsage(purposes), False)]),
        "tls.key": pem(srv_key)})
