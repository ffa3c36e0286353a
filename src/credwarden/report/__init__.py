"""Field reports: the CW/1 text firmware sends about its credential store, and its one-line SMS form (CWS/1).

A pure codec (no I/O): `parse_report(payload)` validates and returns a `FieldReport` or raises
`ReportRejected` with a reason code; `build_cw1` / `build_sms` write them (tests, benchmarks, tools).
"""

from __future__ import annotations

from credwarden.report.cw1 import build_cw1, certexpiry_block, firmware_block, list_block, parse_cw1
from credwarden.report.errors import REASONS, ReportRejected
from credwarden.report.model import (
    MAX_REPORT_BYTES,
    Block,
    CertValidity,
    FieldReport,
    Listing,
    ReportEntry,
    TlsFailure,
)
from credwarden.report.sms import build_sms, parse_sms


def parse_report(payload: bytes | str) -> FieldReport:
    """A CW/1 report or its CWS/1 one-line form, told apart by the first bytes."""
    head = payload[:6]
    if head.startswith(b"CWS/") if isinstance(head, bytes) else head.startswith("CWS/"):
        return parse_sms(payload)
    return parse_cw1(payload)


def looks_like_report(text: str) -> bool:
    """True when `text` starts like a CW/1 or CWS/1 report (for importers that accept several formats)."""
    return text.lstrip("\ufeff").startswith(("CW/1 ", "CW/1\r", "CW/1\n", "CWS/1 "))


__all__ = [
    "MAX_REPORT_BYTES",
    "REASONS",
    "Block",
    "CertValidity",
    "FieldReport",
    "Listing",
    "ReportEntry",
    "ReportRejected",
    "TlsFailure",
    "build_cw1",
    "build_sms",
    "certexpiry_block",
    "firmware_block",
    "list_block",
    "looks_like_report",
    "parse_cw1",
    "parse_report",
    "parse_sms",
]
