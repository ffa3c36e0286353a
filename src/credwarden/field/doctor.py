"""`credwarden doctor`: gather observations from a device, read-only, and run the rules.

Read-only means: only `+CGMR`/`+CFUN?`-style queries, `%CMNG=1` (list), `%CMNG=2` (read of readable, non-secret
types), `%CERTEXPIRY` and `%XPOFWARN?`. Never a write, delete, keygen or CFUN change (tested with the simulator's
accounting). The power-off warning is probed by its read form, else by a harmless read (CME 528 = active).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from credwarden.at.response import AtResponse
from credwarden.creds.encoding import sha256_hex
from credwarden.errors import CredwardenError, DeviceRebooted, DeviceTimeout, ModemError, ProtocolError
from credwarden.field.doctor_rules import diagnose
from credwarden.field.findings import (
    DoctorReport,
    ExpiryCheck,
    Observations,
    PowerOffWarningProbe,
    ReadCheck,
)
from credwarden.field.firmware import firmware_facts
from credwarden.models import CertExpiry, DeviceInfo, ReadResult, StoredEntry
from credwarden.modem.listing import list_store
from credwarden.types import READABLE_TYPES, CredType, is_user_tag

log = logging.getLogger(__name__)

#: At most this many read-backs / expiry queries per run (a doctor run stays short on a slow UART).
MAX_READS = 24
_PEM_END = re.compile(rb"-----END [A-Z0-9 ]+-----\s*$")
_XPOFWARN = re.compile(r"%XPOFWARN:\s*(\d+)(?:\s*,\s*(\d+))?(?:\s*,\s*(\d+))?")


class DoctorDevice(Protocol):
    """What doctor needs from a device (credwarden.modem.device.Device provides it)."""

    def info(self) -> DeviceInfo: ...

    def list(self, sec_tag: int | None = None, type: int | None = None) -> list[StoredEntry]: ...

    def read(self, sec_tag: int, type: int) -> ReadResult: ...

    def expiry(self, sec_tag: int, type: int) -> CertExpiry: ...

    def at(self, command: str, timeout: float | None = None) -> AtResponse: ...


def run_doctor(
    device: DoctorDevice,
    *,
    manifest: Path | None = None,
    expiry_days: int = 30,
    now: datetime | None = None,
    read_back: bool = True,
) -> DoctorReport:
    """Observe `device` (read-only) and diagnose it. `read_back=False` skips `%CMNG=2` (a >4 kB chain has
    crashed modems on read, modem-behaviour.md#field-reports): no buffer check and no read-back expiry then."""
    info = device.info()
    view = list_store(device, lambda: _manifest_tags(info, manifest))
    entries = view.entries
    facts = firmware_facts(info.firmware, info.firmware_version)
    problems: list[str] = [] if view.unseen is None else [view.unseen]
    readable = [e for e in entries if e.type in READABLE_TYPES and is_user_tag(e.sec_tag)][:MAX_READS]
    if not read_back:
        readable = []
        problems.append("read-back skipped (--no-read-back): buffer sizes and root CA expiry were not checked")
    reads, contents = _read_back(device, readable)
    pofwarn = _probe_power_off_warning(device, facts.has_power_off_warning, reads, entries, problems)
    expiries = _expiries(device, entries, contents, facts.version is None or facts.version >= (1, 3, 0), problems)
    checks = None
    if manifest is not None:
        from credwarden.field.manifest_compare import compare_with_manifest

        checks = compare_with_manifest(info, manifest, entries, contents)
    obs = Observations(info, entries, tuple(reads), pofwarn, tuple(expiries), checks, tuple(problems))
    return diagnose(obs, now=now or datetime.now(UTC), expiry_warning=timedelta(days=expiry_days))


def _manifest_tags(info: DeviceInfo, manifest: Path | None) -> set[int]:
    if manifest is None:
        return set()  # nothing names a tag: nothing can be listed one by one
    from credwarden.field.manifest_compare import manifest_tags

    return manifest_tags(info, manifest)


def _read_back(
    device: DoctorDevice, entries: Iterable[StoredEntry]
) -> tuple[list[ReadCheck], dict[tuple[int, int], bytes]]:
    reads: list[ReadCheck] = []
    contents: dict[tuple[int, int], bytes] = {}
    for entry in entries:
        try:
            result = device.read(entry.sec_tag, entry.type)
        except DeviceTimeout:
            reads.append(ReadCheck(entry.sec_tag, entry.type, entry.sha256, None, None, None, "timeout"))
            continue
        except ModemError as exc:
            label = "ERROR" if exc.code is None else f"+CME ERROR: {exc.code}"
            reads.append(ReadCheck(entry.sec_tag, entry.type, entry.sha256, None, None, None, label))
            continue
        except DeviceRebooted:
            raise
        except ProtocolError as exc:  # e.g. the shell: "Sending AT command failed with error code -7" (E2BIG)
            reads.append(ReadCheck(entry.sec_tag, entry.type, entry.sha256, None, None, None, str(exc)[-120:]))
            continue
        content = result.content
        contents[(entry.sec_tag, entry.type)] = content
        pem: bool | None = None
        if b"-----BEGIN" in content:
            pem = bool(_PEM_END.search(content)) and content.count(b"-----BEGIN") == content.count(b"-----END")
        certificate = _parses_as_certificates(content) if entry.type == 0 and pem is not False else None
        reads.append(
            ReadCheck(
                entry.sec_tag, entry.type, entry.sha256, len(content), sha256_hex(content), pem, None, certificate
            )
        )
    return reads, contents


def _parses_as_certificates(content: bytes) -> bool:
    """True when the content is one or more X.509 certificates (PEM), as a root CA entry must be."""
    from cryptography import x509

    try:
        return bool(x509.load_pem_x509_certificates(content))
    except ValueError:
        return False


def _probe_power_off_warning(
    device: DoctorDevice,
    supported: bool | None,
    reads: list[ReadCheck],
    entries: tuple[StoredEntry, ...],
    problems: list[str],
) -> PowerOffWarningProbe | None:
    """Read-backs first (528 = active), then `AT%XPOFWARN?`, then one harmless read. Never writes."""
    if supported is False:
        return None
    if any(r.error == "+CME ERROR: 528" for r in reads):
        return PowerOffWarningProbe("active", "read probe", "a read of a readable entry answered +CME ERROR: 528")
    if any(r.error is None for r in reads):
        return PowerOffWarningProbe("inactive", "read probe", "readable entries read back without CME 528")
    armed = ""
    try:
        response = device.at("AT%XPOFWARN?")
    except ModemError as exc:
        if exc.code == 528:
            return PowerOffWarningProbe("active", "AT%XPOFWARN?", "+CME ERROR: 528")
    except CredwardenError as exc:
        problems.append(f"power-off warning probe failed: {exc}")
        return None
    else:
        match = _XPOFWARN.search(" ".join(response.lines))
        if match is not None:
            armed = f"armed state {match.group(1)}; "
    # A harmless read of a stored entry: CME 528 means latched. Other refusals (514) prove nothing.
    user = [e for e in entries if is_user_tag(e.sec_tag)]
    if user:
        probe = user[0]
        try:
            device.at(f"AT%CMNG=2,{probe.sec_tag},{probe.type}")  # raw: types 1-3 answer 514, never content
        except ModemError as exc:
            if exc.code == 528:
                return PowerOffWarningProbe(
                    "active", "read probe", f"AT%CMNG=2,{probe.sec_tag},{probe.type} answered +CME ERROR: 528"
                )
            detail = f"{armed}read probe answered {'ERROR' if exc.code is None else exc.code}"
            return PowerOffWarningProbe("unknown", "read probe", detail)
        except CredwardenError as exc:
            problems.append(f"power-off warning read probe failed: {exc}")
            return None
        return PowerOffWarningProbe("inactive", "read probe", f"{armed}read answered OK")
    return PowerOffWarningProbe("unknown", "AT%XPOFWARN?", f"{armed}no stored entry to probe with".strip())


def _expiries(
    device: DoctorDevice,
    entries: Iterable[StoredEntry],
    contents: dict[tuple[int, int], bytes],
    try_certexpiry: bool,
    problems: list[str],
) -> list[ExpiryCheck]:
    found: list[ExpiryCheck] = []
    certificates = [
        e for e in entries if e.type in (CredType.ROOT_CA, CredType.CLIENT_CERT) and is_user_tag(e.sec_tag)
    ][:MAX_READS]
    supported = (
        try_certexpiry  # %CERTEXPIRY came with mfw 1.3 (modem-behaviour.md#certexpiry); asked once, then remembered
    )
    for entry in certificates:
        key = (entry.sec_tag, entry.type)
        if supported:
            try:
                result = device.expiry(entry.sec_tag, entry.type)
            except ModemError as exc:
                if exc.code in (None, 0, 50):  # the firmware does not know %CERTEXPIRY: stop asking
                    supported = False
                    problems.append("%CERTEXPIRY is not supported; expiry checked from read-back of root CAs only")
                else:
                    problems.append(f"%CERTEXPIRY for sec_tag {entry.sec_tag} type {entry.type}: {exc.meaning}")
            except DeviceTimeout:
                problems.append(f"%CERTEXPIRY for sec_tag {entry.sec_tag} timed out")
            else:
                found.append(ExpiryCheck(entry.sec_tag, entry.type, result.not_before, result.not_after, "%CERTEXPIRY"))
                continue
        if key in contents:
            parsed = _validity_from_pem(contents[key])
            if parsed is not None:
                found.append(ExpiryCheck(entry.sec_tag, entry.type, parsed[0], parsed[1], "read-back"))
    return found


def _validity_from_pem(content: bytes) -> tuple[datetime, datetime] | None:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(content)
    except ValueError:
        return None
    return cert.not_valid_before_utc, cert.not_valid_after_utc
