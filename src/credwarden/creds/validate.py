"""Checks a credential must pass before credwarden sends a single byte of it to a modem.

Every check returns `ValidationError`s instead of raising at the first one, so a manifest reports all of its
problems at once. Messages name the source (file or manifest field) and never contain secret content.

Accepted private keys (conservative; modem-behaviour.md#credential-types, Nordic's TLS docs): EC P-256 (secp256r1) and
P-384 (secp384r1), RSA 2048. Encrypted keys must be PKCS#8 (`ENCRYPTED PRIVATE KEY`) with a password of at most
32 characters (modem-behaviour.md#cmng); legacy OpenSSL-encrypted PEM (`Proc-Type: 4,ENCRYPTED`) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from credwarden.creds.encoding import (
    EncodingError,
    PemBlock,
    canonical_content,
    der_label,
    looks_like_pem,
    parse_pem_blocks,
    sha256_hex,
    stored_form,
)
from credwarden.errors import ValidationError
from credwarden.types import (
    DIALECTS,
    MAX_AT_COMMAND_BYTES,
    MAX_SEC_TAG,
    MAX_USER_SEC_TAG,
    NRF_CLOUD_SEC_TAG,
    USER_WRITABLE_TYPES,
    CredType,
    Dialect,
    is_tls_decrypt_tag,
    type_name,
)

#: Largest certificate chain the modem handles; bigger ones crashed it (modem-behaviour.md#content-rules).
MAX_CHAIN_BYTES = 4096
#: `%CMNG` password limit (modem-behaviour.md#cmng).
MAX_PASSWORD_CHARS = 32
#: SLM native TLS maps sec_tag*10+type into the modem range, so sec_tag <= INT_MAX/10 (modem-behaviour.md#xcmng).
MAX_NATIVE_TLS_SEC_TAG = MAX_USER_SEC_TAG // 10
#: Firmware that first offers TLS-decrypt tags (modem-behaviour.md#sec_tags).
TLS_DECRYPT_MIN_FIRMWARE = (2, 0, 0)
#: Firmware that validates type 0/1 content as certificates (CME 527, modem-behaviour.md#content-rules).
CERT_VALIDATION_FIRMWARE = (2, 0, 2)

SUPPORTED_CURVES = ("secp256r1", "secp384r1")
SUPPORTED_RSA_BITS = (2048,)

_KEY_LABELS = frozenset({"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY"})
_DROPPED_LABELS = frozenset({"EC PARAMETERS"})  # emitted by `openssl ecparam -genkey`, meaningless to the modem
_PRINTABLE = re.compile(r"[\x20-\x7e]+")
_HEX = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True)
class CredentialPolicy:
    """The opt-ins a manifest (or caller) grants one credential."""

    allow_expired: bool = False
    allow_not_yet_valid: bool = False
    allow_nrf_cloud_tag: bool = False
    allow_tls_decrypt_tag: bool = False
    native_tls: bool = False


@dataclass(frozen=True)
class PreparedCredential:
    """A credential that passed validation: canonical content plus what was learned while checking it."""

    sec_tag: int
    type: CredType
    content: bytes = field(repr=False)  #: canonical form (see creds.encoding)
    source: str
    password: str | None = field(default=None, repr=False)
    certificates: tuple[x509.Certificate, ...] = field(default=(), repr=False)
    public_key_der: bytes | None = field(default=None, repr=False)  #: SubjectPublicKeyInfo of the key / leaf cert

    @property
    def secret(self) -> bool:
        return self.type in (CredType.CLIENT_KEY, CredType.PSK)

    def describe_content(self) -> str:
        """Safe description: secrets as `<redacted N bytes sha256=...>`, others as their length and digest."""
        digest = sha256_hex(self.content)[:16]
        if self.secret:
            return f"<redacted {len(self.content)} bytes sha256={digest}...>"
        return f"{len(self.content)} bytes sha256={digest}..."


def check_sec_tag(sec_tag: int, cred_type: CredType, policy: CredentialPolicy, source: str) -> list[ValidationError]:
    """sec_tag range, reserved tags, nRF Cloud and TLS-decrypt opt-ins, native TLS mapping limit."""
    problems: list[ValidationError] = []
    if cred_type not in USER_WRITABLE_TYPES:
        problems.append(
            ValidationError(
                f"type {type_name(cred_type)} ({int(cred_type)}) is managed by the modem; "
                "a manifest can only write root-ca, client-cert, client-key, psk, psk-identity",
                source=source,
            )
        )
    if sec_tag < 0 or sec_tag > MAX_SEC_TAG:
        problems.append(ValidationError(f"sec_tag {sec_tag} is outside 0..{MAX_USER_SEC_TAG}", source=source))
    elif sec_tag > MAX_USER_SEC_TAG:
        if not is_tls_decrypt_tag(sec_tag):
            problems.append(
                ValidationError(
                    f"sec_tag {sec_tag} is reserved for the modem (user tags are 0..{MAX_USER_SEC_TAG})", source=source
                )
            )
        elif not policy.allow_tls_decrypt_tag:
            problems.append(
                ValidationError(
                    f"sec_tag {sec_tag} is a TLS-decrypt tag (test/development only, mfw >= 2.0); "
                    "set allow_tls_decrypt_tag = true to write it",
                    source=source,
                )
            )
    if sec_tag == NRF_CLOUD_SEC_TAG and not policy.allow_nrf_cloud_tag:
        problems.append(
            ValidationError(
                f"sec_tag {sec_tag} holds the nRF Cloud credentials; set allow_nrf_cloud_tag = true to write it",
                source=source,
            )
        )
    if policy.native_tls and sec_tag > MAX_NATIVE_TLS_SEC_TAG:
        problems.append(
            ValidationError(
                f"sec_tag {sec_tag} is above {MAX_NATIVE_TLS_SEC_TAG}, the largest SLM native TLS tag "
                "(the modem stores it at sec_tag*10+type)",
                source=source,
            )
        )
    return problems


def check_firmware(
    sec_tag: int,
    firmware_version: tuple[int, int, int] | None,
    source: str,
    *,
    cred_type: CredType | None = None,
    native_tls: bool = False,
) -> list[ValidationError]:
    """Device-dependent checks: TLS-decrypt tags need mfw >= 2.0.0; SLM native TLS stores every credential as a
    root CA (type 0), which mfw >= 2.0.2 validates as a certificate, so keys/PSKs cannot go there
    (modem-behaviour.md#content-rules, #xcmng)."""
    shown = ".".join(map(str, firmware_version)) if firmware_version else "unknown"
    if is_tls_decrypt_tag(sec_tag) and (firmware_version is None or firmware_version < TLS_DECRYPT_MIN_FIRMWARE):
        return [
            ValidationError(
                f"sec_tag {sec_tag} is a TLS-decrypt tag, supported from modem firmware 2.0.0 (this device: {shown})",
                source=source,
            )
        ]
    if (
        native_tls
        and cred_type in (CredType.CLIENT_KEY, CredType.PSK, CredType.PSK_IDENTITY)
        and (firmware_version is None or firmware_version >= CERT_VALIDATION_FIRMWARE)
    ):
        return [
            ValidationError(
                f"SLM native TLS stores {type_name(cred_type)} as a root CA entry, which modem "
                f"firmware >= 2.0.2 rejects as an invalid certificate (this device: {shown})",
                source=source,
            )
        ]
    return []


def prepare_credential(
    sec_tag: int,
    cred_type: CredType,
    raw: bytes,
    *,
    source: str,
    policy: CredentialPolicy | None = None,
    password: str | None = None,
    now: datetime | None = None,
    dialects: Sequence[Dialect] = DIALECTS,
) -> tuple[PreparedCredential | None, list[ValidationError]]:
    """Validate one credential and return its canonical form, or None with every problem found.

    `dialects`: the stored forms whose command length must fit 4096 bytes (all three unless the device is known).
    """
    policy = policy or CredentialPolicy()
    now = now or datetime.now(UTC)
    problems = check_sec_tag(sec_tag, cred_type, policy, source)
    if not raw or not raw.strip():
        problems.append(ValidationError("is empty", source=source))
        return None, problems
    if cred_type in (CredType.ROOT_CA, CredType.CLIENT_CERT):
        prepared, more = _prepare_certificates(sec_tag, cred_type, raw, source, policy, now)
    elif cred_type == CredType.CLIENT_KEY:
        prepared, more = _prepare_private_key(sec_tag, raw, source, password)
    elif cred_type == CredType.PSK:
        prepared, more = _prepare_psk(sec_tag, raw, source)
    elif cred_type == CredType.PSK_IDENTITY:
        prepared, more = _prepare_identity(sec_tag, raw, source)
    else:
        return None, problems
    problems.extend(more)
    if prepared is not None:
        problems.extend(_check_size(prepared, dialects, policy))
        if policy.native_tls and prepared.password is not None:
            problems.append(
                ValidationError(
                    "SLM native TLS (AT#XCMNG) cannot carry a key password; "
                    "decrypt the key or write it without native_tls",
                    source=source,
                )
            )
    return (prepared if not problems else None), problems


def check_tag_groups(items: Iterable[PreparedCredential]) -> list[ValidationError]:
    """Cross-credential checks: one entry per (sec_tag, type); a client cert matches the key of its sec_tag."""
    problems: list[ValidationError] = []
    seen: dict[tuple[int, int], PreparedCredential] = {}
    for item in items:
        key = (item.sec_tag, int(item.type))
        if key in seen:
            problems.append(
                ValidationError(
                    f"sec_tag {item.sec_tag} {type_name(item.type)} is already given by {seen[key].source}",
                    source=item.source,
                )
            )
            continue
        seen[key] = item
    for (sec_tag, code), cert in seen.items():
        if code != CredType.CLIENT_CERT:
            continue
        key_item = seen.get((sec_tag, int(CredType.CLIENT_KEY)))
        if key_item is None or key_item.public_key_der is None or cert.public_key_der is None:
            continue
        if key_item.public_key_der != cert.public_key_der:
            problems.append(
                ValidationError(
                    f"the client certificate does not match the private key of sec_tag {sec_tag} ({key_item.source})",
                    source=cert.source,
                )
            )
    return problems


# --- certificates ------------------------------------------------------------------------------------------


def _blocks(raw: bytes, source: str) -> tuple[list[PemBlock] | None, list[ValidationError]]:
    """PEM blocks of PEM or DER input, or the problems that prevent reading them."""
    if looks_like_pem(raw):
        bad = _first_non_ascii(raw)
        if bad is not None:
            return None, [
                ValidationError(
                    f"contains a non-ASCII byte 0x{raw[bad]:02X} at offset {bad}; the modem accepts ASCII only",
                    source=source,
                )
            ]
        try:
            blocks = [b for b in parse_pem_blocks(raw) if b.label not in _DROPPED_LABELS]
        except EncodingError as exc:
            return None, [ValidationError(str(exc), source=source)]
        return blocks, []
    if raw[:1] != b"\x30":
        if b'"' in raw:
            return None, [
                ValidationError('contains a double quote ("), which cannot be sent inside an AT string', source=source)
            ]
        return None, [ValidationError("is neither PEM (no -----BEGIN line) nor DER", source=source)]
    try:
        label = der_label(raw)
    except EncodingError as exc:
        return None, [ValidationError(f"DER input: {exc}", source=source)]
    return [PemBlock(label=label, der=raw)], []


def _first_non_ascii(raw: bytes) -> int | None:
    for index, byte in enumerate(raw):
        if byte > 0x7E or (byte < 0x20 and byte not in (0x09, 0x0A, 0x0D)):
            return index
    return None


def _prepare_certificates(
    sec_tag: int, cred_type: CredType, raw: bytes, source: str, policy: CredentialPolicy, now: datetime
) -> tuple[PreparedCredential | None, list[ValidationError]]:
    blocks, problems = _blocks(raw, source)
    if blocks is None:
        return None, problems
    slot = type_name(cred_type)
    certs: list[x509.Certificate] = []
    for index, block in enumerate(blocks):
        where = f"{slot} block {index + 1}" if len(blocks) > 1 else slot
        if block.label in _KEY_LABELS:
            problems.append(
                ValidationError(
                    f"{where} holds a private key, not a certificate (wrong slot? keys go to client-key)", source=source
                )
            )
            continue
        if block.label != "CERTIFICATE":
            problems.append(ValidationError(f"{where} is a '{block.label}' block, expected CERTIFICATE", source=source))
            continue
        try:
            certs.append(x509.load_der_x509_certificate(block.der))
        except ValueError as exc:
            problems.append(ValidationError(f"{where} is not a parseable X.509 certificate ({exc})", source=source))
    if problems or not certs:
        return None, problems
    if cred_type == CredType.ROOT_CA:
        problems.extend(_check_ca_bundle(certs, source))
        for cert in certs:
            problems.extend(_check_validity(cert, "CA certificate", policy, now, source))
    else:
        leaf = certs[0]
        if _is_ca(leaf) and _self_issued(leaf):
            problems.append(
                ValidationError(
                    f"the client certificate ({_subject(leaf)}) is a self-signed CA "
                    "certificate (wrong slot? CAs go to root-ca)",
                    source=source,
                )
            )
        problems.extend(_check_validity(leaf, "client certificate", policy, now, source))
    if problems:
        return None, problems
    content = b"".join(PemBlock("CERTIFICATE", c.public_bytes(serialization.Encoding.DER)).encode() for c in certs)
    public_key = (
        certs[0].public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return PreparedCredential(
        sec_tag,
        cred_type,
        content,
        source,
        certificates=tuple(certs),
        public_key_der=public_key if cred_type == CredType.CLIENT_CERT else None,
    ), []


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "<empty subject>"


def _self_issued(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return cert.version == x509.Version.v1 and _self_issued(cert)


def _check_ca_bundle(certs: list[x509.Certificate], source: str) -> list[ValidationError]:
    problems: list[ValidationError] = []
    by_subject = {c.subject: c for c in certs}
    for cert in certs:
        name = _subject(cert)
        if not _is_ca(cert):
            problems.append(
                ValidationError(
                    f"certificate {name} is not a CA (basicConstraints CA:true missing); "
                    "a client certificate in the root-ca slot?",
                    source=source,
                )
            )
            continue
        issuer = cert if _self_issued(cert) else by_subject.get(cert.issuer)
        if issuer is None:
            continue  # an intermediate used as trust anchor: its issuer is not here to check against
        try:
            cert.verify_directly_issued_by(issuer)
        except InvalidSignature:
            what = "self-signature" if issuer is cert else f"signature by {_subject(issuer)}"
            problems.append(
                ValidationError(
                    f"CA certificate {name}: the {what} does not verify (corrupted certificate?)", source=source
                )
            )
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            problems.append(
                ValidationError(f"CA certificate {name}: signature cannot be checked ({exc})", source=source)
            )
    return problems


def _check_validity(
    cert: x509.Certificate, what: str, policy: CredentialPolicy, now: datetime, source: str
) -> list[ValidationError]:
    name = _subject(cert)
    if cert.not_valid_after_utc < now and not policy.allow_expired:
        return [
            ValidationError(
                f"{what} {name} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC "
                "(set allow_expired = true to write it anyway)",
                source=source,
            )
        ]
    if cert.not_valid_before_utc > now and not policy.allow_not_yet_valid:
        return [
            ValidationError(
                f"{what} {name} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC "
                "(set allow_not_yet_valid = true to write it anyway)",
                source=source,
            )
        ]
    return []


# --- private keys ------------------------------------------------------------------------------------------


def _prepare_private_key(
    sec_tag: int, raw: bytes, source: str, password: str | None
) -> tuple[PreparedCredential | None, list[ValidationError]]:
    blocks, problems = _blocks(raw, source)
    if blocks is None:
        return None, problems
    if any(b.label == "CERTIFICATE" for b in blocks):
        return None, [ValidationError("client-key holds a certificate, not a private key (wrong slot?)", source=source)]
    keys = [b for b in blocks if b.label in _KEY_LABELS]
    if len(keys) != 1 or len(blocks) != 1:
        labels = ", ".join(b.label for b in blocks)
        return None, [
            ValidationError(f"client-key must hold exactly one private key block (found: {labels})", source=source)
        ]
    block = keys[0]
    if any("ENCRYPTED" in h for h in block.headers):
        return None, [
            ValidationError(
                "legacy OpenSSL-encrypted PEM key (Proc-Type: 4,ENCRYPTED) is not supported "
                "by the modem; convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
                source=source,
            )
        ]
    encrypted = block.label == "ENCRYPTED PRIVATE KEY"
    if encrypted and not password:
        return None, [
            ValidationError(
                "the private key is encrypted and no password was given "
                "(name an environment variable with password_env)",
                source=source,
            )
        ]
    if password is not None:
        problems.extend(_check_password(password, source))
        if not encrypted:
            problems.append(ValidationError("a password was given but the private key is not encrypted", source=source))
        if problems:
            return None, problems
    try:
        key = serialization.load_der_private_key(block.der, password.encode() if encrypted and password else None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        if encrypted:
            reason = "the password does not decrypt the private key (wrong password?)"
        else:
            reason = f"the private key cannot be parsed ({type(exc).__name__})"
        return None, [ValidationError(reason, source=source)]
    kind_problem = _check_key_kind(key)
    if kind_problem:
        return None, [ValidationError(kind_problem, source=source)]
    public_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PreparedCredential(
        sec_tag,
        CredType.CLIENT_KEY,
        block.encode(),
        source,
        password=password if encrypted else None,
        public_key_der=public_key,
    ), []


def _check_password(password: str, source: str) -> list[ValidationError]:
    if len(password) > MAX_PASSWORD_CHARS:
        return [
            ValidationError(
                f"the key password has {len(password)} characters; the modem accepts at most {MAX_PASSWORD_CHARS}",
                source=source,
            )
        ]
    if not _PRINTABLE.fullmatch(password) or '"' in password:
        return [ValidationError('the key password must be printable ASCII without a double quote (")', source=source)]
    return []


def _check_key_kind(key: PrivateKeyTypes) -> str | None:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in SUPPORTED_CURVES:
            return f"EC curve {key.curve.name} is not supported by the modem (use P-256 or P-384)"
        return None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size not in SUPPORTED_RSA_BITS:
            return f"RSA-{key.key_size} is not supported (credwarden accepts RSA-2048; EC P-256 is recommended)"
        return None
    return f"{type(key).__name__.lstrip('_')} keys are not supported by the modem (use EC P-256/P-384 or RSA-2048)"


# --- PSK ---------------------------------------------------------------------------------------------------


def _prepare_psk(sec_tag: int, raw: bytes, source: str) -> tuple[PreparedCredential | None, list[ValidationError]]:
    text = raw.strip()
    try:
        value = text.decode("ascii")
    except UnicodeDecodeError:
        return None, [ValidationError("PSK must be a hex string (found non-ASCII bytes)", source=source)]
    if not _HEX.fullmatch(value):
        return None, [ValidationError("PSK must be a hex string (0-9, a-f), e.g. 6e7266393174657374", source=source)]
    if len(value) % 2:
        return None, [ValidationError(f"PSK hex string has an odd length ({len(value)} digits)", source=source)]
    content = canonical_content(CredType.PSK, text)
    return PreparedCredential(sec_tag, CredType.PSK, content, source), []


def _prepare_identity(sec_tag: int, raw: bytes, source: str) -> tuple[PreparedCredential | None, list[ValidationError]]:
    text = raw.strip(b"\r\n")
    try:
        value = text.decode("ascii")
    except UnicodeDecodeError:
        return None, [ValidationError("PSK identity must be printable ASCII (found non-ASCII bytes)", source=source)]
    if not _PRINTABLE.fullmatch(value):
        return None, [ValidationError("PSK identity must be printable ASCII without line breaks", source=source)]
    if '"' in value:
        return None, [
            ValidationError(
                'PSK identity contains a double quote ("), which cannot be sent inside an AT string', source=source
            )
        ]
    return PreparedCredential(sec_tag, CredType.PSK_IDENTITY, text, source), []


# --- size --------------------------------------------------------------------------------------------------


def write_command_length(sec_tag: int, cred_type: int, stored: bytes, password: str | None, native_tls: bool) -> int:
    """Length of `AT%CMNG=0,<tag>,<type>,"<stored>"[,"<password>"]` (or `AT#XCMNG=...`), terminator excluded."""
    prefix = "AT#XCMNG=0" if native_tls else "AT%CMNG=0"
    length = len(f'{prefix},{sec_tag},{cred_type},""') + len(stored)
    if password is not None:
        length += len(f',"{password}"')
    return length


def _check_size(
    item: PreparedCredential, dialects: Sequence[Dialect], policy: CredentialPolicy
) -> list[ValidationError]:
    largest = max(len(stored_form(item.content, d)) for d in dialects)
    if item.type == CredType.ROOT_CA and largest > MAX_CHAIN_BYTES:
        return [
            ValidationError(
                f"the certificate chain is {largest} bytes; the modem crashes on chains above "
                f"{MAX_CHAIN_BYTES} bytes (split it over several sec_tags)",
                source=item.source,
            )
        ]
    worst = max(
        write_command_length(
            item.sec_tag, int(item.type), stored_form(item.content, d), item.password, policy.native_tls
        )
        for d in dialects
    )
    if worst > MAX_AT_COMMAND_BYTES:
        return [
            ValidationError(
                f"the write command would be {worst} bytes; an AT command is limited to {MAX_AT_COMMAND_BYTES} bytes",
                source=item.source,
            )
        ]
    return []
