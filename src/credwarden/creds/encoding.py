"""Canonical encoding of credential content and prediction of the digest the modem lists for it.

Canonical form (what credwarden writes, modem-behaviour.md#content-rules, #digests):

* PEM content (types 0, 1, 2): only the PEM blocks (text outside them is dropped), each block
  `-----BEGIN X-----` / optional RFC 1421 headers + blank line / base64 body re-wrapped at 64 columns
  (RFC 7468 strict form) / `-----END X-----`, LF line endings, exactly one final LF. DER input is wrapped into
  PEM with the label its structure implies. Re-wrapping makes files written by different tools (76-column
  bodies, CRLF editors) produce the same bytes, hence the same digest.
* PSK (type 3): lower-case hex; PSK identity (type 4): the text as given. No line endings.

The modem lists SHA-256 over exactly the stored bytes (modem-behaviour.md#digests). The stored form depends on the
dialect: the NCS shell turns every LF of an `AT%CMNG=0` command into CR LF (modem-behaviour.md#ncs-shell), the AT host
and SLM store bytes unchanged.
Other tools store the same PEM with other line endings (nrfcredstore: LF without the final newline,
nrfcloud-utils: CRLF with a final CRLF); `equivalent_digests` lists all of them so such an entry counts as
already stored instead of being rewritten.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from credwarden.types import CredType, Dialect

#: Types whose content is PEM text.
PEM_TYPES = frozenset({CredType.ROOT_CA, CredType.CLIENT_CERT, CredType.CLIENT_KEY})

#: Names of the encodings `equivalent_digests` reports, with their human description.
ENCODING_DESCRIPTIONS: dict[str, str] = {
    "lf": "LF line endings with a final newline (canonical)",
    "lf-no-final": "LF line endings without the final newline (as nrfcredstore writes it)",
    "crlf": "CRLF line endings with a final CRLF (as the NCS shell and nrfcloud-utils store it)",
    "crlf-no-final": "CRLF line endings without the final CRLF",
    "psk-lower": "lower-case hex",
    "psk-upper": "upper-case hex",
    "raw": "as given",
}

_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----")
_END_TEMPLATE = b"-----END %s-----"
_BODY_WIDTH = 64


class EncodingError(ValueError):
    """Content that is not a well-formed PEM/DER credential (the message says exactly why)."""


@dataclass(frozen=True)
class PemBlock:
    """One PEM block: its label, optional RFC 1421 headers (legacy encrypted keys) and the decoded body."""

    label: str
    der: bytes
    headers: tuple[str, ...] = ()

    def encode(self) -> bytes:
        """The canonical text of this block (LF, 64-column body, final LF)."""
        body = base64.b64encode(self.der)
        lines = [b"-----BEGIN " + self.label.encode() + b"-----"]
        if self.headers:
            lines.extend(h.encode() for h in self.headers)
            lines.append(b"")
        lines.extend(body[i : i + _BODY_WIDTH] for i in range(0, len(body), _BODY_WIDTH))
        lines.append(_END_TEMPLATE % self.label.encode())
        return b"\n".join(lines) + b"\n"


def looks_like_pem(data: bytes) -> bool:
    """True when `data` contains a PEM BEGIN line."""
    return _BEGIN.search(data) is not None


def parse_pem_blocks(data: bytes) -> list[PemBlock]:
    """Split PEM text into blocks, tolerant of line endings and wrapping, strict about structure and base64.

    Raises `EncodingError` naming the problem: no block, BEGIN without END, literal backslash-n sequences,
    non-base64 body, empty body.
    """
    if b"\\n" in data or b"\\r" in data:
        raise EncodingError(
            "contains literal '\\n' sequences (backslash + n) instead of line breaks; "
            "convert them to real newlines (the modem rejects such certificates with CME 527)"
        )
    blocks: list[PemBlock] = []
    pos = 0
    while True:
        begin = _BEGIN.search(data, pos)
        if begin is None:
            break
        label = begin.group(1).decode()
        end_marker = _END_TEMPLATE % begin.group(1)
        end = data.find(end_marker, begin.end())
        if end < 0:
            raise EncodingError(f"'BEGIN {label}' without a matching 'END {label}' line (truncated file?)")
        inner = data[begin.end() : end]
        nested = _BEGIN.search(inner)
        if nested is not None:
            raise EncodingError(f"'BEGIN {label}' block is not closed before 'BEGIN {nested.group(1).decode()}'")
        blocks.append(_parse_block(label, inner))
        pos = end + len(end_marker)
    if not blocks:
        raise EncodingError("no PEM block (-----BEGIN ...-----) found")
    return blocks


def _parse_block(label: str, inner: bytes) -> PemBlock:
    text = inner.replace(b"\r", b"")
    lines = [line.strip() for line in text.split(b"\n")]
    headers: list[str] = []
    if any(b":" in line for line in lines):
        # RFC 1421 headers (Proc-Type / DEK-Info), then a blank line, then the body.
        while lines and not lines[0]:
            lines.pop(0)
        while lines and b":" in lines[0]:
            headers.append(lines.pop(0).decode("ascii", errors="replace"))
    body = b"".join(lines)
    body = b"".join(body.split())
    if not body:
        raise EncodingError(f"'{label}' block has an empty body")
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EncodingError(f"'{label}' block body is not valid base64 ({exc})") from None
    return PemBlock(label=label, der=der, headers=tuple(headers))


def pem_from_der(der: bytes) -> bytes:
    """Wrap DER into canonical PEM, choosing the label from the ASN.1 structure.

    Recognised: X.509 certificate, PKCS#8 PrivateKeyInfo, PKCS#8 EncryptedPrivateKeyInfo, SEC1 EC private key,
    PKCS#1 RSA private key. Anything else raises `EncodingError`.
    """
    return PemBlock(label=der_label(der), der=der).encode()


def der_label(der: bytes) -> str:
    """The PEM label for a DER structure (see `pem_from_der`)."""
    try:
        outer_tag, outer, rest = _tlv(der)
        if outer_tag != 0x30 or rest:
            raise EncodingError("not a single DER SEQUENCE")
        first_tag, first, after = _tlv(outer)
        if first_tag == 0x30:
            # Certificate: SEQUENCE { tbsCertificate SEQUENCE, algorithm SEQUENCE, signature BIT STRING }
            # EncryptedPrivateKeyInfo: SEQUENCE { algorithm SEQUENCE, encryptedData OCTET STRING }
            second_tag, _, _ = _tlv(after)
            if second_tag == 0x30:
                return "CERTIFICATE"
            if second_tag == 0x04:
                return "ENCRYPTED PRIVATE KEY"
        elif first_tag == 0x02:
            second_tag, _, _ = _tlv(after)
            version = int.from_bytes(first, "big")
            if second_tag == 0x30 and version in (0, 1):
                return "PRIVATE KEY"
            if second_tag == 0x04 and version == 1:
                return "EC PRIVATE KEY"
            if second_tag == 0x02 and version in (0, 1):
                return "RSA PRIVATE KEY"
    except (IndexError, ValueError) as exc:
        if isinstance(exc, EncodingError):
            raise
        raise EncodingError("DER data is malformed (not a certificate or private key)") from None
    raise EncodingError("DER data is not a certificate or private key")


def _tlv(data: bytes) -> tuple[int, bytes, bytes]:
    """One DER tag-length-value: (tag, value, rest). Raises IndexError/ValueError on malformed input."""
    tag = data[0]
    length = data[1]
    offset = 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[2 : 2 + count], "big")
        offset += count
    value = data[offset : offset + length]
    if len(value) != length:
        raise ValueError("DER value truncated")
    return tag, value, data[offset + length :]


def canonical_pem(data: bytes) -> bytes:
    """Canonical PEM for PEM (any line endings / wrapping) or DER input. Raises `EncodingError`."""
    if looks_like_pem(data):
        return b"".join(block.encode() for block in parse_pem_blocks(data))
    if data[:1] == b"\x30":
        return pem_from_der(data)
    if not data.strip():
        raise EncodingError("empty content")
    raise EncodingError("neither PEM (no -----BEGIN line) nor DER (does not start with a SEQUENCE)")


def canonical_content(cred_type: CredType, data: bytes) -> bytes:
    """Canonical content for any user-writable type (PEM types via `canonical_pem`, PSK lower-case hex)."""
    if cred_type in PEM_TYPES:
        return canonical_pem(data)
    text = data.strip()
    if cred_type == CredType.PSK:
        return text.lower()
    return text


def stored_form(content: bytes, dialect: Dialect) -> bytes:
    """The bytes the modem stores when credwarden writes `content` through `dialect` (modem-behaviour.md#ncs-shell)."""
    if dialect == "shell":
        return content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return content


def sha256_hex(data: bytes) -> str:
    """Upper-case hex SHA-256, as the modem prints it."""
    return hashlib.sha256(data).hexdigest().upper()


def abbreviated_digest(sha: str, head: int = 12, tail: int = 4) -> str:
    """A digest in text people read: `2C43952EE9E0..5BD1` (first and last characters; JSON keeps whole values)."""
    return sha if len(sha) <= head + tail + 2 else f"{sha[:head]}..{sha[-tail:]}"


def predicted_sha256(content: bytes, dialect: Dialect) -> str:
    """The SHA-256 the modem will list after credwarden writes `content` through `dialect`."""
    return sha256_hex(stored_form(content, dialect))


def equivalent_forms(canonical: bytes) -> dict[str, bytes]:
    """The same credential in each common stored encoding, keyed by encoding name (see ENCODING_DESCRIPTIONS)."""
    if not canonical.endswith(b"\n"):
        # PSK / identity: no line endings involved.
        if re.fullmatch(rb"[0-9a-fA-F]+", canonical):
            return {"psk-lower": canonical.lower(), "psk-upper": canonical.upper()}
        return {"raw": canonical}
    lf = canonical.replace(b"\r\n", b"\n")
    crlf = lf.replace(b"\n", b"\r\n")
    return {"lf": lf, "lf-no-final": lf[:-1], "crlf": crlf, "crlf-no-final": crlf[:-2]}


def equivalent_digests(canonical: bytes) -> dict[str, str]:
    """SHA-256 (upper hex) of every common encoding of `canonical`, keyed by encoding name."""
    return {name: sha256_hex(form) for name, form in equivalent_forms(canonical).items()}


def match_digest(canonical: bytes, sha: str) -> str | None:
    """The encoding name whose digest equals `sha` (case-insensitive), or None when it matches none."""
    wanted = sha.upper()
    for name, digest in equivalent_digests(canonical).items():
        if digest == wanted:
            return name
    return None


def describe_encoding(name: str) -> str:
    """Human description of an encoding name (for plan reasons)."""
    return ENCODING_DESCRIPTIONS.get(name, name)


def same_credential(cred_type: CredType, stored: bytes, canonical: bytes) -> bool:
    """True when stored content equals `canonical` modulo encoding (line endings, wrapping, final newline)."""
    if stored == canonical:
        return True
    try:
        return canonical_content(cred_type, stored) == canonical_content(cred_type, canonical)
    except EncodingError:
        return False
