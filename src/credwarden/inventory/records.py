"""Validated input records of the inventory: what a snapshot or an apply run consists of, digests only.

Everything written to the database passes through these records, and they have no field that can hold
credential content: a `StoredEntry` carries tag, type and digest; apply-action reasons are scrubbed of
anything that looks like key material before they are kept.
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from credwarden.errors import ValidationError
from credwarden.inventory.vocabulary import REASON_LEN, SOURCES, TEXT_LEN, UUID_LEN
from credwarden.log import redact_text
from credwarden.models import DeviceInfo, StoredEntry
from credwarden.types import MAX_SEC_TAG, is_placeholder_digest, is_valid_imei, parse_type

_SHA_RE = re.compile(r"^[0-9A-Fa-f]{64}$")
#: Device ids accepted with `any_id`: letters, digits and '-' (serial numbers, test boards).
_ANY_ID_RE = re.compile(r"^[0-9A-Za-z\-]{1,32}$")
_PEM_RE = re.compile(r"-----BEGIN [^-]+-----.*?(?:-----END [^-]+-----|$)", re.S)
#: hex or base64 runs long enough to be key material (a 64-hex digest on its own is kept: it is public)
_BLOB_RE = re.compile(r"[0-9A-Za-z+/=]{65,}|\b[0-9A-Fa-f]{16,63}\b|\b[0-9A-Fa-f]{65,}\b")


def redacted(data: bytes | str) -> str:
    """The placeholder used everywhere instead of secret content."""
    raw = data.encode() if isinstance(data, str) else data
    return f"<redacted {len(raw)} bytes sha256={hashlib.sha256(raw).hexdigest()[:16]}>"


def scrub_reason(reason: str | None) -> str | None:
    """Free text from a report, with PEM blocks and long hex/base64 runs replaced, truncated to fit."""
    if reason is None:
        return None
    text = _PEM_RE.sub(lambda m: redacted(m.group(0)), redact_text(reason))
    text = _BLOB_RE.sub(lambda m: redacted(m.group(0)), text)
    return text if len(text) <= REASON_LEN else text[: REASON_LEN - 3] + "..."


def hostname() -> str:
    """This machine's name, recorded with every snapshot and run."""
    return socket.gethostname()[:TEXT_LEN]


@dataclass(frozen=True)
class EntryRecord:
    """One stored credential as the inventory keeps it."""

    sec_tag: int
    type: int
    sha256: str | None
    placeholder: bool
    not_after: datetime | None = None


@dataclass(frozen=True)
class SnapshotRecord:
    """One device's credential list at one moment (the unit of `record_snapshot(s_bulk)`)."""

    imei: str
    taken_at: datetime
    source: str
    entries: tuple[EntryRecord, ...]
    uuid: str | None = None
    model: str | None = None
    firmware: str | None = None
    station: str | None = None
    host: str | None = None

    @classmethod
    def build(
        cls,
        info: DeviceInfo,
        entries: Iterable[StoredEntry],
        *,
        source: str,
        station: str | None = None,
        taken_at: datetime | None = None,
        expiries: Mapping[tuple[int, int], datetime] | None = None,
        host: str | None = None,
        any_id: bool = False,
    ) -> SnapshotRecord:
        """Validate a device's identity and list into a record (ValidationError on bad input).

        `any_id`: accept a device id that is not an IMEI (see `check_imei`)."""
        imei = check_imei(info.imei, any_id=any_id)
        if source not in SOURCES:
            raise ValidationError(f"snapshot source must be one of {', '.join(SOURCES)}, not {source!r}")
        when = check_time(taken_at) if taken_at is not None else datetime.now(UTC)
        expiries = expiries or {}
        records: dict[tuple[int, int], EntryRecord] = {}
        for entry in entries:
            key = (entry.sec_tag, entry.type)
            rec = entry_record(entry.sec_tag, entry.type, entry.sha256, expiries.get(key))
            if key in records and records[key] != rec:
                raise ValidationError(f"sec_tag {entry.sec_tag} type {entry.type} listed twice with different digests")
            records[key] = rec
        return cls(
            imei=imei,
            taken_at=when,
            source=source,
            entries=tuple(records[k] for k in sorted(records)),
            uuid=_clip(info.uuid, UUID_LEN),
            model=_clip(info.model, TEXT_LEN),
            firmware=_clip(info.firmware, TEXT_LEN),
            station=_clip(station, TEXT_LEN),
            host=host if host is not None else hostname(),
        )


def entry_record(sec_tag: int, type_code: int, sha256: str | None, not_after: datetime | None = None) -> EntryRecord:
    """Validate one entry (tag range, type, digest shape)."""
    if not 0 <= sec_tag <= MAX_SEC_TAG:
        raise ValidationError(f"sec_tag {sec_tag} is outside 0..{MAX_SEC_TAG}")
    if not 0 <= type_code <= 255:
        raise ValidationError(f"credential type {type_code} is outside 0..255")
    digest = None
    if sha256 is not None:
        if not _SHA_RE.match(sha256):
            raise ValidationError(f"sec_tag {sec_tag} type {type_code}: digest is not 64 hex characters")
        digest = sha256.upper()
    placeholder = digest is not None and is_placeholder_digest(digest, type_code)
    return EntryRecord(sec_tag, type_code, digest, placeholder, check_time(not_after) if not_after else None)


def check_imei(imei: str | None, *, any_id: bool = False) -> str:
    """The device id to record: an IMEI (15 digits, the last a Luhn check digit).

    `any_id` accepts another id scheme instead (letters, digits and '-', up to 32 characters), for devices or
    captures that are not identified by their IMEI; it has to be asked for, so a typo never becomes a device."""
    if not imei:
        raise ValidationError("the device reported no IMEI; the inventory identifies devices by IMEI")
    imei = imei.strip()
    if any_id:
        if not _ANY_ID_RE.match(imei):
            raise ValidationError(f"not a device id: {imei[:40]!r} (letters, digits and '-', at most 32)")
        return imei
    if not is_valid_imei(imei):
        why = "the check digit is wrong" if len(imei) == 15 and imei.isdigit() else "an IMEI is 15 digits"
        raise ValidationError(
            f"not an IMEI: {imei[:40]!r} ({why}); to record devices under another id, accept it explicitly (--any-id)"
        )
    return imei


def check_time(value: datetime) -> datetime:
    """Timestamps must carry a timezone; they are stored in UTC."""
    if value.tzinfo is None:
        raise ValidationError(f"timestamp {value.isoformat()} has no timezone; give UTC (e.g. ...Z)")
    return value.astimezone(UTC)


def _clip(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]


@dataclass(frozen=True)
class ActionRecord:
    """One action of an apply run."""

    sec_tag: int
    type: int
    action: str
    status: str
    reason: str | None


@dataclass(frozen=True)
class ApplyRecord:
    """An apply run: accepts the provisioning `ApplyReport` or any object/dict with `ok` and `actions`."""

    ok: bool
    actions: tuple[ActionRecord, ...]
    manifest_digest: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_report(cls, report: Any) -> ApplyRecord:
        """Read `ok`, `actions` (each with sec_tag/type/action/status/reason), optional times and digest."""
        if not isinstance(report, Mapping) and not hasattr(report, "actions") and hasattr(report, "to_json"):
            report = report.to_json()  # provisioning's ApplyReport: its JSON carries the per-action results
        ok = _field(report, "ok")
        if not isinstance(ok, bool):
            raise ValidationError("apply report: 'ok' must be true or false")
        raw_actions = _field(report, "actions", [])
        actions = []
        for i, item in enumerate(raw_actions or ()):
            try:
                sec_tag = int(_field(item, "sec_tag"))
                raw_type = _field(item, "type_code", None)
                raw_type = _field(item, "type") if raw_type is None else raw_type
                type_code = int(parse_type(raw_type)) if isinstance(raw_type, str) else int(raw_type)
            except (TypeError, ValueError):
                raise ValidationError(f"apply report: action {i} needs integer sec_tag and type") from None
            action = _enum_text(_field(item, "action", ""))
            status = _enum_text(_field(item, "status", ""))
            if not action or not status:
                raise ValidationError(f"apply report: action {i} needs 'action' and 'status'")
            reason = _field(item, "reason", None)
            actions.append(
                ActionRecord(sec_tag, type_code, action, status, scrub_reason(None if reason is None else str(reason)))
            )
        digest = _field(report, "manifest_digest", None) or _field(report, "manifest_sha256", None)
        started = _field(report, "started_at", None)
        finished = _field(report, "finished_at", None)
        now = datetime.now(UTC)
        return cls(
            ok=ok,
            actions=tuple(actions),
            manifest_digest=check_digest(str(digest)) if digest else None,
            started_at=check_time(started) if isinstance(started, datetime) else now,
            finished_at=check_time(finished) if isinstance(finished, datetime) else now,
        )


def check_digest(value: str) -> str:
    """A manifest digest: 64 hex characters, kept lower-case."""
    if not _SHA_RE.match(value):
        raise ValidationError("apply report: manifest digest must be 64 hex characters")
    return value.lower()


def _enum_text(value: Any) -> str:
    """Enum members (e.g. `Action.WRITE`) are kept as their value."""
    value = getattr(value, "value", value)
    return "" if value is None else str(value)[:32]


def _field(obj: Any, name: str, default: Any = ...) -> Any:
    if isinstance(obj, Mapping):
        if name in obj:
            return obj[name]
    elif hasattr(obj, name):
        return getattr(obj, name)
    if default is ...:
        raise ValidationError(f"apply report: missing field {name!r}")
    return default
