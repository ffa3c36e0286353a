"""JSON envelopes around reports (HTTP `/ingest`): a device message or an nRF Cloud message-routing batch.

Accepted shapes (pure: bytes in, envelopes out):

* a device message `{"appId": "CREDWARDEN", "messageType": "DATA", "data": "CW/1 ...", ...}` (nRF Cloud's
  general message schema; `deviceId` / `topic` / `ts` are read when present);
* a routed batch `{"type": "device_messages", "messages": [{"deviceId", "topic", "message": {...}, ...}]}`:
  each message whose `data` is a report is one envelope; other applications' messages are skipped and counted;
* `{"type": "system.verification", ...}`: nothing to ingest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from credwarden.report.errors import UNPARSABLE, ReportRejected

#: A batch may carry many reports; the HTTP layer refuses bodies above this before parsing.
MAX_BATCH_BYTES = 4 * 1024 * 1024
_IMEI_IN_ID = re.compile(r"(?<!\d)(\d{15})(?!\d)")
_REPORT_START = ("CW/1 ", "CW/1\r", "CW/1\n", "CWS/1 ")


@dataclass(frozen=True)
class Envelope:
    """One report found in a JSON body, with what the envelope says about its sender."""

    payload: str
    device_id: str | None = None
    topic: str | None = None

    @property
    def imei_hint(self) -> str | None:
        """A 15-digit run in the envelope's device id (`nrf-352656100367872`), to check against the header."""
        match = _IMEI_IN_ID.search(self.device_id or "")
        return match.group(1) if match else None


@dataclass(frozen=True)
class Unwrapped:
    """The envelopes of one body, and how many messages in it were not reports."""

    envelopes: tuple[Envelope, ...]
    skipped: int = 0


def _report_text(message: Any) -> str | None:
    if isinstance(message, str):
        return message if message.startswith(_REPORT_START) else None
    if isinstance(message, dict):
        data = message.get("data")
        if isinstance(data, str) and data.startswith(_REPORT_START):
            return data
    return None


def _text_field(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    return value if isinstance(value, str) else None


def unwrap_json(body: bytes | str) -> Unwrapped:
    """The reports inside a JSON body; ReportRejected when the body is not one of the accepted shapes."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportRejected(UNPARSABLE, f"body is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ReportRejected(UNPARSABLE, "JSON body must be an object")
    if document.get("type") == "system.verification":
        return Unwrapped(())
    messages = document.get("messages")
    if isinstance(messages, list):
        found: list[Envelope] = []
        skipped = 0
        for item in messages:
            if not isinstance(item, dict):
                skipped += 1
                continue
            text = _report_text(item.get("message"))
            if text is None:
                skipped += 1
                continue
            found.append(Envelope(text, _text_field(item, "deviceId"), _text_field(item, "topic")))
        return Unwrapped(tuple(found), skipped)
    text = _report_text(document)
    if text is None:
        raise ReportRejected(
            UNPARSABLE,
            'JSON body has no report: expected {"appId": ..., "messageType": ..., "data": "CW/1 ..."} '
            'or {"type": "device_messages", "messages": [...]}',
        )
    return Unwrapped((Envelope(text, _text_field(document, "deviceId"), _text_field(document, "topic")),))
