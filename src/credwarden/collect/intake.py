"""The first check of every payload, whatever carried it: size, format, and that the IMEI the transport names
(MQTT topic level, envelope device id) is the one in the report's header. Pure."""

from __future__ import annotations

from credwarden.report import FieldReport, ReportRejected, parse_report
from credwarden.report.errors import IMEI_MISMATCH


def accept_payload(payload: bytes | str, *, claimed_imei: str | None = None, where: str = "") -> FieldReport:
    """The parsed report; ReportRejected (reason code + sentence) when it cannot be accepted."""
    report = parse_report(payload)
    if claimed_imei is not None and claimed_imei != report.imei:
        place = f" ({where})" if where else ""
        raise ReportRejected(
            IMEI_MISMATCH, f"the transport names IMEI {claimed_imei}{place} but the report header says {report.imei}"
        )
    return report
