"""CW/1: the plain-text report firmware builds from raw AT answers (parse, validate, build). Pure functions.

```
CW/1 imei=352656100367872 seq=17 up=86400 app=1.4.0 tls=1000:-95
AT+CGMR
mfw_nrf9160_1.3.5
OK
AT%CMNG=1
%CMNG: 1000,0,"2C43952EE9E000FF2ACC4E2ED0897C0A72AD5FA72C3D934E81741CBD54F05BD1"
OK
```

Line 1 is `CW/1` and `key=value` fields (`imei` and `seq` required; `up`, `app`, `tls` understood; other keys
kept). Then blocks: a command line (starting with `AT`), its answer lines as the modem gave them, and a final
result: `OK`, `ERROR`, `+CME ERROR: <n>`, `+CMS ERROR: <n>`, or `ERROR <negative errno>` when the AT call
itself failed on the device (`ERROR -7`: the answer did not fit the buffer, E2BIG; the lines before it may
be cut). CR LF or LF line ends, at most `MAX_REPORT_BYTES`. Understood commands: `AT%CMNG=1[,<tag>[,<type>]]`
(the credential list), `AT+CGMR` (firmware), `AT%CERTEXPIRY=<tag>,<type>` (validity), `AT+CGSN` (the IMEI,
checked against the header). Any other command is kept and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from credwarden.at.cmng import parse_list_line
from credwarden.at.info import parse_certexpiry, parse_imei
from credwarden.at.response import FinalKind, parse_final
from credwarden.errors import ProtocolError
from credwarden.report.errors import IMEI_MISMATCH, OVERSIZED, UNPARSABLE, ReportRejected
from credwarden.report.imei import imei_problem
from credwarden.report.model import (
    MAX_REPORT_BYTES,
    Block,
    CertValidity,
    FieldReport,
    Listing,
    ReportEntry,
    TlsFailure,
)
from credwarden.types import MAX_SEC_TAG

MAGIC = "CW/1"
#: Largest value a report's `seq` / `up` may have (the inventory keeps them as signed 64-bit integers).
MAX_COUNTER = 2**63 - 1
MAX_TLS_FAILURES = 32
MAX_FIELD_CHARS = 255
MAX_EXTRA_FIELDS = 16
#: Text shown from a refused line.
SHOWN_CHARS = 60

_FIELD_RE = re.compile(r"^([a-z][a-z0-9_.-]{0,31})=(\S*)$")
_COUNTER_RE = re.compile(r"^\d{1,19}$")
_TLS_ITEM_RE = re.compile(r"^(\d{1,10}):([-+]?\d{1,6})$")
_COMMAND_RE = re.compile(r"^AT(?:$|[+%#&\w])", re.IGNORECASE)
_ERRNO_FINAL_RE = re.compile(r"^ERROR\s+(-\d{1,6})$")
_LIST_RE = re.compile(r"^AT%CMNG=1(?:,(\d{1,10})(?:,(\d{1,3}))?)?$", re.IGNORECASE)
_CGMR_RE = re.compile(r"^AT\+CGMR$", re.IGNORECASE)
_CGSN_RE = re.compile(r"^AT\+CGSN(?:=[01])?$", re.IGNORECASE)
_CERTEXPIRY_RE = re.compile(r"^AT%CERTEXPIRY=(\d{1,10}),(\d{1,3})$", re.IGNORECASE)
_SHA_RE = re.compile(r"^[0-9A-F]{64}$")


def shown(text: str) -> str:
    """A refused piece of text as it appears in a message (cut, repr-quoted)."""
    return repr(text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "...")


def decode_payload(payload: bytes | str) -> str:
    """The report text: size-checked and ASCII-only (ReportRejected otherwise)."""
    raw = payload.encode("utf-8", errors="surrogateescape") if isinstance(payload, str) else bytes(payload)
    if len(raw) > MAX_REPORT_BYTES:
        raise ReportRejected(OVERSIZED, f"report of {len(raw)} bytes exceeds the {MAX_REPORT_BYTES}-byte limit")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ReportRejected(
            UNPARSABLE, f"byte {raw[exc.start]:#04x} at offset {exc.start} is not ASCII (a report is plain text)"
        ) from None
    bad = next((i for i, c in enumerate(text) if (c < " " and c not in "\r\n\t") or c == "\x7f"), None)
    if bad is not None:
        raise ReportRejected(UNPARSABLE, f"control character {ord(text[bad]):#04x} at offset {bad}")
    return text


def split_lines(text: str) -> list[str]:
    """Lines of a report (CR LF or LF; a final line end is optional)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# -- header ---------------------------------------------------------------------------------------------------


@dataclass
class Header:
    """The fields of a report's first line, validated."""

    imei: str
    seq: int
    uptime_s: int | None = None
    app_version: str | None = None
    tls_failures: tuple[TlsFailure, ...] = ()
    extra: list[tuple[str, str]] = field(default_factory=list)
    #: fields the caller interprets itself (the SMS form's list count, hash, ...)
    special: dict[str, str] = field(default_factory=dict)


def parse_counter(name: str, value: str) -> int:
    if not _COUNTER_RE.match(value) or int(value) > MAX_COUNTER:
        raise ReportRejected(UNPARSABLE, f"header field {name}={shown(value)} is not a whole number 0..2^63-1")
    return int(value)


def parse_tls(value: str) -> tuple[TlsFailure, ...]:
    """`1000:-95,42:-111` -> TLS failures; empty -> none."""
    if not value:
        return ()
    items = value.split(",")
    if len(items) > MAX_TLS_FAILURES:
        raise ReportRejected(UNPARSABLE, f"header field tls= lists {len(items)} failures (at most {MAX_TLS_FAILURES})")
    failures: list[TlsFailure] = []
    for item in items:
        match = _TLS_ITEM_RE.match(item)
        if match is None or int(match[1]) > MAX_SEC_TAG:
            raise ReportRejected(UNPARSABLE, f"header field tls=: {shown(item)} is not <sec_tag>:<error>")
        failures.append(TlsFailure(int(match[1]), int(match[2])))
    return tuple(failures)


def check_imei_field(value: str) -> str:
    problem = imei_problem(value)
    if problem is not None:
        raise ReportRejected(UNPARSABLE, f"header field imei=: {problem}")
    return value


_COMMON_FIELDS = frozenset({"imei", "seq", "up", "app", "tls"})


def parse_header_fields(
    tokens: Sequence[str], *, aliases: dict[str, str] | None = None, special: frozenset[str] = frozenset()
) -> Header:
    """Validate `key=value` tokens (`aliases` maps the SMS form's short keys to names; `special` names are
    handed back in `Header.special` for the caller to read; any other key is kept in `extra`)."""
    seen: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    for token in tokens:
        match = _FIELD_RE.match(token)
        if match is None:
            raise ReportRejected(UNPARSABLE, f"header: {shown(token)} is not a key=value field")
        key, value = match[1], match[2]
        if len(value) > MAX_FIELD_CHARS:
            raise ReportRejected(UNPARSABLE, f"header field {key}= is longer than {MAX_FIELD_CHARS} characters")
        name = (aliases or {}).get(key, key)
        if name in seen or any(k == key for k, _ in extra):
            raise ReportRejected(UNPARSABLE, f"header field {key}= appears twice")
        if name in _COMMON_FIELDS or name in special:
            seen[name] = value
        else:
            if len(extra) >= MAX_EXTRA_FIELDS:
                raise ReportRejected(UNPARSABLE, f"header has more than {MAX_EXTRA_FIELDS} unknown fields")
            extra.append((key, value))
    for required in ("imei", "seq"):
        if not seen.get(required):
            short = next((k for k, v in (aliases or {}).items() if v == required), required)
            raise ReportRejected(UNPARSABLE, f"header field {short}= is missing (required)")
    header = Header(imei=check_imei_field(seen["imei"]), seq=parse_counter("seq", seen["seq"]), extra=extra)
    header.special = {k: v for k, v in seen.items() if k in special}
    if seen.get("up"):
        header.uptime_s = parse_counter("up", seen["up"])
    header.app_version = seen.get("app") or None
    header.tls_failures = parse_tls(seen.get("tls", ""))
    return header


# -- blocks ---------------------------------------------------------------------------------------------------


def final_of(line: str) -> str | None:
    """The normalised final result of `line` (`OK`, `ERROR`, `+CME ERROR: 513`, `ERROR -7`), None otherwise."""
    text = line.strip()
    errno = _ERRNO_FINAL_RE.match(text)
    if errno is not None:
        return f"ERROR {int(errno[1])}"
    final = parse_final(text)
    if final is None:
        return None
    if final.kind is FinalKind.CME:
        return f"+CME ERROR: {final.code}"
    if final.kind is FinalKind.CMS:
        return f"+CMS ERROR: {final.code}"
    return str(final.kind.value)


def final_error(final: str | None) -> str:
    """Short form of a failed final result: `-7`, `CME 513`, `CMS 1`, `ERROR`; `truncated` when there was none."""
    if final is None:
        return "truncated"
    if final.startswith("ERROR "):
        return final[6:]
    if final.startswith(("+CME", "+CMS")):
        return f"{final[1:4]} {final.split(':')[1].strip()}"
    return final


def split_blocks(lines: Sequence[str], first_line_no: int = 2) -> list[Block]:
    """Command / answer / final blocks; a block the payload ends inside has `final=None`."""
    blocks: list[Block] = []
    command: str | None = None
    answer: list[str] = []
    start = 0
    for number, line in enumerate(lines, start=first_line_no):
        if not line.strip():
            continue
        if command is None:
            if not _COMMAND_RE.match(line.strip()):
                raise ReportRejected(UNPARSABLE, f"line {number}: expected an AT command, got {shown(line)}")
            command, answer, start = line.strip(), [], number
            continue
        final = final_of(line)
        if final is None:
            answer.append(line)
            continue
        blocks.append(Block(command, tuple(answer), final, start))
        command = None
    if command is not None:
        blocks.append(Block(command, tuple(answer), None, start))
    return blocks


# -- interpretation -------------------------------------------------------------------------------------------


def list_entries(block: Block, notes: list[str]) -> list[ReportEntry]:
    """The entries of one `%CMNG=1` block; in a block that ended OK every line must be a list line."""
    entries: dict[tuple[int, int], ReportEntry] = {}
    for offset, line in enumerate(block.lines, start=1):
        entry = parse_list_line(line) if line.count('"') % 2 == 0 else None  # an odd quote: a cut line
        digest = entry.sha256 if entry is not None else None
        if entry is None or (digest is not None and not _SHA_RE.match(digest)):
            where = f"line {block.line_no + offset}"
            if block.ok:
                raise ReportRejected(UNPARSABLE, f"{where}: {shown(line)} is not a %CMNG list line")
            notes.append(f"{where}: unreadable list line in a list that ended {final_error(block.final)}")
            continue
        item = ReportEntry(entry.sec_tag, entry.type, digest)
        previous = entries.get(item.key)
        if previous is not None and previous != item:
            raise ReportRejected(
                UNPARSABLE, f"sec_tag {item.sec_tag} type {item.type} listed twice with different digests"
            )
        entries[item.key] = item
    return [entries[k] for k in sorted(entries)]


def merge_listings(blocks: Sequence[Block], notes: list[str]) -> Listing | None:
    """One listing from the report's `%CMNG=1` blocks: the last full list wins; filtered lists add up."""
    full: Block | None = None
    filtered: list[tuple[Block, tuple[int, int | None]]] = []
    for block in blocks:
        match = _LIST_RE.match(block.command.replace(" ", ""))
        if match is None:
            continue
        if match[1] is None:
            full = block
        else:
            tag = int(match[1])
            if tag > MAX_SEC_TAG:
                raise ReportRejected(UNPARSABLE, f"line {block.line_no}: sec_tag {tag} is outside 0..{MAX_SEC_TAG}")
            filtered.append((block, (tag, int(match[2]) if match[2] is not None else None)))
    if full is not None:
        entries = tuple(list_entries(full, notes))
        if full.ok:
            return Listing("complete", entries)
        return Listing("incomplete", entries, error=final_error(full.final))
    if not filtered:
        return None
    merged: dict[tuple[int, int], ReportEntry] = {}
    failed: Block | None = None
    for block, _ in filtered:
        for entry in list_entries(block, notes):
            merged[entry.key] = entry
        if not block.ok and failed is None:
            failed = block
    coverage = frozenset(f for _, f in filtered)
    entries = tuple(merged[k] for k in sorted(merged))
    if failed is not None:
        return Listing("incomplete", entries, coverage=coverage, error=final_error(failed.final))
    return Listing("complete", entries, coverage=coverage)


def interpret(header: Header, blocks: Sequence[Block], size: int) -> FieldReport:
    """Build the report from the header and the blocks it carried."""
    notes: list[str] = []
    firmware: str | None = None
    validities: list[CertValidity] = []
    for block in blocks:
        command = block.command.replace(" ", "")
        if _CGMR_RE.match(command) and block.ok:
            text = next((line.strip() for line in block.lines if line.strip()), "")
            firmware = text[:MAX_FIELD_CHARS] or None
        elif _CGSN_RE.match(command) and block.ok:
            imei = parse_imei(list(block.lines))
            if imei is not None and imei != header.imei:
                raise ReportRejected(IMEI_MISMATCH, f"header imei={header.imei} but AT+CGSN answered {imei}")
        elif (match := _CERTEXPIRY_RE.match(command)) and block.ok:
            try:
                serial, not_before, not_after = parse_certexpiry(list(block.lines))
            except ProtocolError:
                notes.append(f"line {block.line_no}: unreadable %CERTEXPIRY answer ignored")
                continue
            validities.append(CertValidity(int(match[1]), int(match[2]), serial, not_before, not_after))
    return FieldReport(
        imei=header.imei,
        seq=header.seq,
        uptime_s=header.uptime_s,
        app_version=header.app_version,
        firmware=firmware,
        tls_failures=header.tls_failures,
        extra=tuple(header.extra),
        listing=merge_listings(blocks, notes),
        validities=tuple(validities),
        blocks=tuple(blocks),
        form="cw1",
        size=size,
        notes=tuple(notes),
    )


def parse_cw1(payload: bytes | str) -> FieldReport:
    """Parse and validate a CW/1 report; ReportRejected (with its reason code) when it is not acceptable."""
    text = decode_payload(payload)
    lines = split_lines(text)
    if not lines or not lines[0].strip():
        raise ReportRejected(UNPARSABLE, "empty report")
    tokens = lines[0].split()
    if tokens[0] != MAGIC:
        if tokens[0].startswith("CW/"):
            raise ReportRejected(
                UNPARSABLE, f"unsupported report version {shown(tokens[0])} (this collector reads CW/1)"
            )
        raise ReportRejected(UNPARSABLE, f"line 1: a report starts with 'CW/1', not {shown(lines[0])}")
    header = parse_header_fields(tokens[1:])
    return interpret(header, split_blocks(lines[1:]), len(text))


# -- building (tests, benchmarks, tools) ----------------------------------------------------------------------


def list_line(sec_tag: int, type_code: int, sha256: str | None) -> str:
    """One `%CMNG: <tag>,<type>[,"<sha>"]` answer line."""
    return f"%CMNG: {sec_tag},{type_code}" + (f',"{sha256}"' if sha256 is not None else "")


def list_block(
    entries: Iterable[tuple[int, int, str | None]],
    *,
    sec_tag: int | None = None,
    type_code: int | None = None,
    final: str | None = "OK",
) -> Block:
    """The block of `AT%CMNG=1[,<tag>[,<type>]]` listing `entries` (sec_tag, type, sha256)."""
    command = "AT%CMNG=1" + (f",{sec_tag}" if sec_tag is not None else "")
    command += f",{type_code}" if sec_tag is not None and type_code is not None else ""
    return Block(command, tuple(list_line(*e) for e in entries), final)


def firmware_block(firmware: str) -> Block:
    return Block("AT+CGMR", (firmware,), "OK")


def certexpiry_block(sec_tag: int, type_code: int, serial: str, not_before: datetime, not_after: datetime) -> Block:
    def stamp(value: datetime) -> str:
        return value.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")

    line = f"%CERTEXPIRY: {serial},{stamp(not_before)},{stamp(not_after)}"
    return Block(f"AT%CERTEXPIRY={sec_tag},{type_code}", (line,), "OK")


def build_cw1(
    imei: str,
    seq: int,
    *,
    up: int | None = None,
    app: str | None = None,
    tls: Iterable[tuple[int, int]] = (),
    extra: Iterable[tuple[str, str]] = (),
    blocks: Iterable[Block] = (),
    newline: str = "\r\n",
) -> str:
    """A CW/1 report as firmware would send it (no validation: tests build broken ones on purpose)."""
    fields = [MAGIC, f"imei={imei}", f"seq={seq}"]
    if up is not None:
        fields.append(f"up={up}")
    if app is not None:
        fields.append(f"app={app}")
    tls_text = ",".join(f"{t}:{e}" for t, e in tls)
    if tls_text:
        fields.append(f"tls={tls_text}")
    fields.extend(f"{k}={v}" for k, v in extra)
    lines = [" ".join(fields)]
    for block in blocks:
        lines.append(block.command)
        lines.extend(block.lines)
        if block.final is not None:
            lines.append(block.final)
    return newline.join(lines) + newline
