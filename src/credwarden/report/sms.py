"""CWS/1: the compact one-line form of a report, for devices that can only send an SMS. Pure functions.

```
CWS/1 i=352656100367872 s=17 u=86400 f=1.3.5 n=2 1000:0LEOVLu 4294967293:10_5Y0gY h=ct6UF6VbAb
```

Fields (`key=value`, before the list): `i` IMEI, `s` seq, `u` uptime (s), `a` application version, `f` firmware,
`t` TLS failures (`tag:error,...`), `n` number of entries in the whole list, `e` the error that ended the list on
the device (`-7`, `CME513`: the list is then incomplete). Unknown keys are kept.

The list follows as one token per sec_tag: `<sec_tag>:` then its entries joined by `.`, each entry its type
in decimal followed by the first 6 base64url characters of its SHA-256 (36 bits), or `!` when the firmware
printed no digest. The last token is `h=`: the first 10 base64url characters of the SHA-256 of the canonical
full list (one `<sec_tag>,<type>,<SHA-256 upper-case hex>` line per entry, sorted, each ending in LF), so:

* a message cut anywhere (a lost second SMS part) lacks its final `h=`: the list is incomplete, whatever the
  cut left of the entries;
* the collector, which knows the device's full digests, checks `h` to prove an unchanged list exactly and to
  restore full digests; a prefix that matches no known digest marks a changed entry.

Every character is in the GSM 7-bit default alphabet. With `s` and `u` below 10^9, any 12 entries fit in two
concatenated SMS parts (306 characters).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence

from credwarden.report.cw1 import decode_payload, parse_header_fields, shown
from credwarden.report.errors import UNPARSABLE, ReportRejected
from credwarden.report.model import FieldReport, Listing, ReportEntry
from credwarden.types import MAX_SEC_TAG

MAGIC = "CWS/1"
PREFIX_CHARS = 6
HASH_CHARS = 10
#: Characters of one / of each part of a concatenated GSM 7-bit SMS.
SMS_SINGLE_CHARS = 160
SMS_PART_CHARS = 153

_ALIASES = {"i": "imei", "s": "seq", "u": "up", "a": "app", "t": "tls", "f": "fw"}
_SPECIAL = frozenset({"fw", "n", "h", "e"})
_GROUP_RE = re.compile(r"^(\d{1,10}):(.*)$")
_ITEM_RE = re.compile(r"^(\d{1,3})([A-Za-z0-9_-]{6}|!)$")
_HASH_RE = re.compile(r"^[A-Za-z0-9_-]{10}$")
_COUNT_RE = re.compile(r"^\d{1,4}$")
_ERROR_RE = re.compile(r"^(?:-?\d{1,6}|CM[ES]\d{1,4}|ERROR)$")
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def digest_prefix(sha256_hex: str) -> str:
    """The first 6 base64url characters of a SHA-256 given in hex (36 bits)."""
    return base64.urlsafe_b64encode(bytes.fromhex(sha256_hex)).decode("ascii")[:PREFIX_CHARS]


def list_hash(entries: Iterable[tuple[int, int, str | None]]) -> str:
    """`h`: the first 10 base64url characters of the SHA-256 of the canonical full list."""
    canonical = "".join(f"{tag},{code},{(sha or '').upper()}\n" for tag, code, sha in sorted(entries, key=_order))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode("ascii")).digest()).decode("ascii")[:HASH_CHARS]


def _order(entry: tuple[int, int, str | None]) -> tuple[int, int]:
    return (entry[0], entry[1])


def sms_parts(text: str) -> int:
    """How many SMS parts `text` takes in the GSM 7-bit alphabet (UCS-2 if it needs other characters)."""
    if all(c in _GSM_BASIC for c in text):
        single, part = SMS_SINGLE_CHARS, SMS_PART_CHARS
    else:
        single, part = 70, 67
    return 1 if len(text) <= single else -(-len(text) // part)


def build_sms(
    imei: str,
    seq: int,
    entries: Sequence[tuple[int, int, str | None]] | None,
    *,
    up: int | None = None,
    app: str | None = None,
    fw: str | None = None,
    tls: Iterable[tuple[int, int]] = (),
    error: str | None = None,
) -> str:
    """The one-line form of a report. `entries` None: no list; `error`: the list ended in this error."""
    fields = [MAGIC, f"i={imei}", f"s={seq}"]
    if up is not None:
        fields.append(f"u={up}")
    if app:
        fields.append(f"a={app}")
    if fw:
        fields.append(f"f={fw}")
    tls_text = ",".join(f"{t}:{e}" for t, e in tls)
    if tls_text:
        fields.append(f"t={tls_text}")
    if entries is None:
        return " ".join(fields)
    ordered = sorted(entries, key=_order)
    fields.append(f"e={error}" if error is not None else f"n={len(ordered)}")
    groups: dict[int, list[str]] = {}
    for tag, code, sha in ordered:
        groups.setdefault(tag, []).append(f"{code}{digest_prefix(sha) if sha else '!'}")
    fields.extend(f"{tag}:{'.'.join(items)}" for tag, items in groups.items())
    if error is None:
        fields.append(f"h={list_hash(ordered)}")
    return " ".join(fields)


def _parse_group(token: str) -> list[ReportEntry] | None:
    """Entries of one `<sec_tag>:<items>` token; None when it is malformed."""
    match = _GROUP_RE.match(token)
    if match is None or int(match[1]) > MAX_SEC_TAG or not match[2]:
        return None
    tag = int(match[1])
    entries: list[ReportEntry] = []
    for item in match[2].split("."):
        found = _ITEM_RE.match(item)
        if found is None:
            return None
        prefix = None if found[2] == "!" else found[2]
        entries.append(ReportEntry(tag, int(found[1]), None, prefix))
    return entries


def parse_sms(payload: bytes | str) -> FieldReport:
    """Parse and validate a CWS/1 line; ReportRejected (with its reason code) when it is not acceptable."""
    text = decode_payload(payload).strip()
    if "\n" in text or "\r" in text:
        raise ReportRejected(UNPARSABLE, "a CWS/1 report is one line")
    tokens = text.split()
    if not tokens or tokens[0] != MAGIC:
        raise ReportRejected(UNPARSABLE, f"a compact report starts with 'CWS/1', not {shown(text)}")
    body = tokens[1:]
    end = body.pop()[2:] if body and body[-1].startswith("h=") else None  # the hash closes the line
    fields = [t for t in body if "=" in t and not _GROUP_RE.match(t)]
    groups = [t for t in body if t not in fields]
    header = parse_header_fields(fields, aliases=_ALIASES, special=_SPECIAL)
    special = header.special
    if "h" in special:
        raise ReportRejected(UNPARSABLE, "field h= must be the last token of the line")
    listing = _listing(groups, special.get("n"), end, special.get("e"))
    return FieldReport(
        imei=header.imei,
        seq=header.seq,
        uptime_s=header.uptime_s,
        app_version=header.app_version,
        firmware=special.get("fw") or None,
        tls_failures=header.tls_failures,
        extra=tuple(header.extra),
        listing=listing,
        form="sms",
        size=len(text),
    )


def _listing(groups: list[str], count: str | None, digest: str | None, error: str | None) -> Listing | None:
    if count is None and error is None:
        if groups or digest is not None:
            raise ReportRejected(UNPARSABLE, "the list has no n= (entry count) field")
        return None
    entries: dict[tuple[int, int], ReportEntry] = {}
    truncated = False
    for index, token in enumerate(groups):
        parsed = _parse_group(token)
        if parsed is None:
            if index == len(groups) - 1:
                truncated = True  # the message was cut inside its last token
                break
            raise ReportRejected(UNPARSABLE, f"list token {shown(token)} is not <sec_tag>:<type><digest prefix>...")
        for entry in parsed:
            if entry.key in entries:
                raise ReportRejected(UNPARSABLE, f"sec_tag {entry.sec_tag} type {entry.type} listed twice")
            entries[entry.key] = entry
    ordered = tuple(entries[k] for k in sorted(entries))
    if error is not None:
        if not _ERROR_RE.match(error):
            raise ReportRejected(UNPARSABLE, f"field e={shown(error)} is not an error code (-7, CME513, ERROR)")
        return Listing("incomplete", ordered, error=_error_text(error))
    assert count is not None
    if not _COUNT_RE.match(count):
        raise ReportRejected(UNPARSABLE, f"field n={shown(count)} is not an entry count")
    if len(ordered) > int(count):
        raise ReportRejected(UNPARSABLE, f"the list has {len(ordered)} entries but n={count}")
    if digest is not None and not _HASH_RE.match(digest):
        if len(digest) < HASH_CHARS and _HASH_RE.match(digest.ljust(HASH_CHARS, "A")):
            digest = None  # cut inside the hash
        else:
            raise ReportRejected(UNPARSABLE, f"field h= must be {HASH_CHARS} base64url characters")
    if truncated or digest is None or len(ordered) < int(count):
        return Listing("incomplete", ordered, error="truncated", list_hash=digest)
    return Listing("complete", ordered, list_hash=digest)


def _error_text(error: str) -> str:
    """`CME513` -> `CME 513` (the form CW/1 lists use); errno and ERROR unchanged."""
    return f"{error[:3]} {error[3:]}" if error.startswith("CM") else error


def resolve_digests(listing: Listing, known: dict[tuple[int, int], str | None]) -> tuple[Listing, bool]:
    """Fill in full digests from `known` ((sec_tag, type) -> SHA-256 the collector already has) where the prefix
    matches. Returns (listing, verified): verified when every digest is known and `h` matches the result."""
    resolved: list[ReportEntry] = []
    for entry in listing.entries:
        full = known.get(entry.key)
        if entry.sha256 is None and full and entry.sha256_prefix == digest_prefix(full):
            entry = ReportEntry(entry.sec_tag, entry.type, full.upper(), entry.sha256_prefix)
        resolved.append(entry)
    result = Listing(listing.status, tuple(resolved), listing.coverage, listing.error, listing.list_hash)
    complete = all(e.sha256 is not None or e.sha256_prefix is None for e in resolved)
    verified = (
        listing.status == "complete"
        and complete
        and listing.list_hash == list_hash((e.sec_tag, e.type, e.sha256) for e in resolved)
    )
    return result, verified
