"""The inventory's fixed vocabularies and column sizes (pure data: the light write path and the SQLAlchemy models
both read them)."""

from __future__ import annotations

#: Where a snapshot came from (`report`: a field report sent by the device itself).
SOURCES: tuple[str, ...] = ("live", "import", "apply", "report")
#: How a field report reached the inventory.
REPORT_TRANSPORTS: tuple[str, ...] = ("mqtt", "http", "sms", "import")
#: What a field report said about the credential list: a full list ending OK, a list cut short by an error,
#: or no list at all.
LIST_STATUSES: tuple[str, ...] = ("complete", "incomplete", "absent")
#: Alert kinds (a `resolved` notification is an alert row getting `resolved_at`, not a kind of its own).
ALERT_KINDS: tuple[str, ...] = (
    "vanished",
    "changed",
    "appeared",
    "unexpected",
    "expiring",
    "expired",
    "silent",
    "tls-error",
)
#: Per-slot states kept by the collector (`slot_states.state`); `tls-error` only on TLS rows (type -1).
SLOT_STATES: tuple[str, ...] = (
    "ok",
    "missing",
    "vanished",
    "changed",
    "unexpected",
    "expiring",
    "expired",
    "unverifiable",
    "tls-error",
)
#: `slot_states.type` of the row that tracks TLS connect failures on a whole sec_tag.
TLS_SLOT_TYPE = -1
#: Column lengths (the models, the migrations and the record validation use the same numbers).
IMEI_LEN = 32
UUID_LEN = 64
TEXT_LEN = 255
REASON_LEN = 500
STATE_LEN = 16
DIGEST_LEN = 64
