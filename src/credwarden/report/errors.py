"""Why a field report is refused: one reason code (a metrics label) and a sentence saying where and why."""

from __future__ import annotations

from credwarden.errors import ValidationError

#: Reason codes (closed set: they label `credwarden_reports_rejected_total{reason}`).
OVERSIZED = "oversized"  #: more bytes than a report may have
UNPARSABLE = "unparsable"  #: not CW/1 / CWS/1, or a field or block that breaks the format
IMEI_MISMATCH = "imei-mismatch"  #: the IMEI of the topic / envelope / +CGSN answer differs from the header's
REPLAYED = "replayed"  #: seq not newer than the device's last report within the same uptime
REASONS: tuple[str, ...] = (OVERSIZED, UNPARSABLE, IMEI_MISMATCH, REPLAYED)


class ReportRejected(ValidationError):
    """A report that is not accepted at all (nothing of it is stored)."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        self.code = reason
        super().__init__(message)
