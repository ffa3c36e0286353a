"""Where the inventory learns certificates' not_after: an apply's manifest files and `%CERTEXPIRY`.

A third source, carrying an expiry forward when an entry's digest is unchanged, lives in `recording`.
Only certificates (types 0 and 1) are looked at; keys and PSKs are never parsed here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography import x509

from credwarden.errors import CredwardenError, DeviceTimeout, ModemError
from credwarden.models import CertExpiry, StoredEntry
from credwarden.types import CredType

log = logging.getLogger(__name__)

#: Types whose not_after the inventory records.
CERT_TYPES = (int(CredType.ROOT_CA), int(CredType.CLIENT_CERT))
#: Apply statuses that mean the device now holds the manifest's content.
HELD_STATUSES = ("written", "unchanged")
#: Firmware generation that brought `%CERTEXPIRY` (modem-behaviour.md#certexpiry).
CERTEXPIRY_SINCE = (1, 3, 0)

Expiries = dict[tuple[int, int], datetime]


class _ExpiryDevice(Protocol):
    def expiry(self, sec_tag: int, type: int) -> CertExpiry: ...


def certificate_not_after(content: bytes) -> datetime | None:
    """The soonest not_after of the PEM/DER certificate(s) in `content`, or None if it holds none."""
    try:
        certs = (
            x509.load_pem_x509_certificates(content)
            if b"-----BEGIN" in content
            else [x509.load_der_x509_certificate(content)]
        )
    except ValueError:
        return None
    return min((c.not_valid_after_utc for c in certs), default=None)


def apply_expiries(report: Any) -> Expiries:
    """not_after of every certificate an apply run wrote or found identical (`ApplyReport.results`)."""
    found: Expiries = {}
    for result in getattr(report, "results", ()) or ():
        action: Any = getattr(result, "action", None)
        desired = getattr(action, "desired", None)
        if desired is None or getattr(result, "status", None) not in HELD_STATUSES:
            continue
        if int(action.type) not in CERT_TYPES:
            continue
        credential = desired.credential
        certs = getattr(credential, "certificates", ())
        not_after = min(c.not_valid_after_utc for c in certs) if certs else certificate_not_after(credential.content)
        if not_after is not None:
            found[(int(action.sec_tag), int(action.type))] = not_after.astimezone(UTC)
    for outcome in getattr(report, "keygen", ()) or ():  # certificates issued for on-device keys
        found[(int(outcome.sec_tag), 1)] = outcome.certificate.not_valid_after_utc.astimezone(UTC)
    return found


def supports_certexpiry(firmware_version: tuple[int, int, int] | None) -> bool:
    """Whether to ask `%CERTEXPIRY` at all (unknown firmware: no — conservative)."""
    return firmware_version is not None and firmware_version >= CERTEXPIRY_SINCE


def device_expiries(device: _ExpiryDevice, entries: Iterable[StoredEntry]) -> tuple[Expiries, list[str]]:
    """Ask `%CERTEXPIRY` for each listed certificate; return what was learned and notes on what was not.

    A refusal for one entry is a note, not an error; an answer saying the command is unknown stops the asking.
    """
    found: Expiries = {}
    notes: list[str] = []
    for entry in entries:
        if entry.type not in CERT_TYPES:
            continue
        try:
            result = device.expiry(entry.sec_tag, entry.type)
        except ModemError as exc:
            if exc.code in (None, 0, 50):
                notes.append("%CERTEXPIRY is not supported by this firmware; no expiry recorded")
                break
            notes.append(f"%CERTEXPIRY {entry.sec_tag},{entry.type}: {exc.meaning}")
        except DeviceTimeout:
            notes.append(f"%CERTEXPIRY {entry.sec_tag},{entry.type}: timed out")
        except CredwardenError as exc:
            notes.append(f"%CERTEXPIRY {entry.sec_tag},{entry.type}: {exc}")
        else:
            found[(entry.sec_tag, entry.type)] = result.not_after.astimezone(UTC)
    for note in notes:
        log.info(note)
    return found, notes
