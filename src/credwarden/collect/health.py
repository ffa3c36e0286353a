"""Per-slot state and alert rules of the collector: pure functions over one report and the persisted state.

1. `derive_states` reads one accepted report against the device's expectations (manifest) and history (its
   latest snapshot and the slot states): one `Observation` per slot the report speaks for. A slot the list
   does not cover (an incomplete or absent list, or a filtered list for other tags) gets no observation: an
   incomplete list is never read as a loss.
2. `advance` moves a slot's state machine: an observed state that differs from the confirmed one becomes
   pending; after `confirm` consecutive reports showing it, it is the new state and a `Transition` is returned.
   Non-alarming first observations (`ok`, `unverifiable`, `missing`) are taken at once; a slot first seen in
   a bad state starts from `ok` and needs the confirmations like any change.
3. `alert_changes` turns transitions into alerts: entering an alarming state fires an alert of that kind
   (once), leaving it resolves the open one; a new slot on a known device fires an informational `appeared`.

States: `ok`, `missing` (expected, never seen), `vanished` (was there, now gone), `changed` (the digest
differs from the manifest or, without one, from the reference digest), `unexpected` (a user credential on a sec_tag
the manifest manages but does not name), `expiring`, `expired`, `unverifiable` (placeholder / no digest);
TLS rows (type -1): `ok` / `tls-error`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from credwarden.field.explain import ExplainInputError, explain
from credwarden.inventory.field_alerts import AlertRow, SlotRow
from credwarden.inventory.vocabulary import TLS_SLOT_TYPE
from credwarden.report.model import Listing, ReportEntry, TlsFailure
from credwarden.report.sms import digest_prefix
from credwarden.types import FACTORY_ENTRIES, MAX_USER_SEC_TAG, USER_WRITABLE_TYPES, is_placeholder_digest, type_name

Slot = tuple[int, int]

#: States that raise an alert of the same name when confirmed.
ALARMING: frozenset[str] = frozenset({"vanished", "changed", "unexpected", "expiring", "expired", "tls-error"})
#: First observations taken without confirmation.
IMMEDIATE: frozenset[str] = frozenset({"ok", "unverifiable", "missing"})
#: States in which the credential is listed (their digest becomes the slot's reference).
PRESENT: frozenset[str] = frozenset({"ok", "changed", "unexpected", "expiring", "expired", "unverifiable"})
#: The pending marker of a slot that appeared on a known device (confirmed into an `appeared` alert).
APPEARED = "appeared"
DEFAULT_EXPIRING_DAYS = 30
#: Characters of a digest shown in human text (never the whole digest).
SHOWN_DIGEST = 8


@dataclass(frozen=True)
class Expectation:
    """One credential the manifest requires of the device: the digests that prove it (None: presence only)."""

    sec_tag: int
    type: int
    digests: frozenset[str] | None
    #: the digest shown in messages (the form credwarden's own writes produce), one of `digests`
    shown: str | None = None


@dataclass(frozen=True)
class DeviceExpectations:
    """What the manifest expects of one device."""

    slots: Mapping[Slot, Expectation]

    @property
    def managed_tags(self) -> frozenset[int]:
        return frozenset(tag for tag, _ in self.slots)


@dataclass(frozen=True)
class Known:
    """A credential of the device's latest snapshot (before the report)."""

    sha256: str | None
    not_after: datetime | None = None


@dataclass(frozen=True)
class Observation:
    """The state one report shows for one slot."""

    slot: Slot
    state: str
    sha256: str | None = None
    prefix: str | None = None
    not_after: datetime | None = None
    detail: str = ""


@dataclass(frozen=True)
class Transition:
    """A confirmed change of one slot's state (`old` None: a new slot confirmed as appeared)."""

    device_id: int
    slot: Slot
    old: str | None
    new: str
    since: datetime
    detail: str


def short(digest: str | None) -> str:
    """The first bytes of a digest for human text."""
    return "no digest" if not digest else digest[:SHOWN_DIGEST] + "…"


def slot_label(slot: Slot) -> str:
    tag, code = slot
    return f"sec_tag {tag}" if code == TLS_SLOT_TYPE else f"sec_tag {tag} {type_name(code)}"


def _managed(slot: Slot, expectations: DeviceExpectations) -> bool:
    """A user credential on a sec_tag the manifest names (a candidate for `unexpected`)."""
    tag, code = slot
    return (
        tag in expectations.managed_tags
        and tag <= MAX_USER_SEC_TAG
        and code in USER_WRITABLE_TYPES
        and slot not in FACTORY_ENTRIES
    )


def _same(digest: str | None, prefix: str | None, reference: str) -> bool:
    if digest is not None:
        return digest.upper() == reference.upper()
    return prefix is not None and prefix == digest_prefix(reference)


def _present_state(
    entry: ReportEntry,
    row: SlotRow | None,
    before: Known | None,
    expectation: Expectation | None,
    expectations: DeviceExpectations | None,
    not_after: datetime | None,
    now: datetime,
    expiring_days: int,
) -> tuple[str, str]:
    slot = entry.key
    digest, prefix = entry.sha256, entry.sha256_prefix
    label = slot_label(slot)
    if (digest is None and prefix is None) or (digest is not None and is_placeholder_digest(digest, entry.type)):
        return "unverifiable", f"{label}: the firmware lists no real digest; its content cannot be proven"
    if expectation is not None and expectation.digests is not None:
        if not any(_same(digest, prefix, d) for d in expectation.digests):
            wanted = short(expectation.shown or sorted(expectation.digests)[0])
            return "changed", f"{label}: digest {short(digest or prefix)} differs from the manifest's ({wanted})"
    elif expectation is None and expectations is not None and _managed(slot, expectations):
        return "unexpected", f"{label} ({short(digest or prefix)}) is not in the manifest for sec_tag {slot[0]}"
    else:
        reference = row.sha256 if row is not None and row.sha256 else (before.sha256 if before else None)
        if reference and not _same(digest, prefix, reference):
            return "changed", f"{label}: digest {short(digest or prefix)} differs from before ({short(reference)})"
    if not_after is not None:
        if not_after <= now:
            return "expired", f"{label} expired {not_after:%Y-%m-%d}"
        if not_after <= now + timedelta(days=expiring_days):
            days = (not_after - now).days
            return "expiring", f"{label} expires {not_after:%Y-%m-%d} (in {days} days)"
    return "ok", f"{label} ({short(digest or prefix)}) is as expected"


def derive_states(
    *,
    listing: Listing | None,
    before: Mapping[Slot, Known],
    rows: Mapping[Slot, SlotRow],
    expectations: DeviceExpectations | None,
    expiries: Mapping[Slot, datetime],
    tls_failures: Sequence[TlsFailure],
    now: datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
) -> list[Observation]:
    """What one report shows for each slot it speaks for (credential slots first, then TLS rows)."""
    observations: list[Observation] = []
    if listing is not None and listing.status == "complete":
        listed = {e.key: e for e in listing.entries}
        slots = {s for s in rows if s[1] != TLS_SLOT_TYPE} | set(before) | set(listed)
        if expectations is not None:
            slots |= set(expectations.slots)
        for slot in sorted(slots):
            if not listing.covers(*slot):
                continue
            entry = listed.get(slot)
            row = rows.get(slot)
            expectation = expectations.slots.get(slot) if expectations is not None else None
            if entry is None:
                seen = (row is not None and row.state != "missing") or slot in before
                if seen:
                    was = (
                        row.sha256
                        if row is not None and row.sha256
                        else (before[slot].sha256 if slot in before else None)
                    )
                    observations.append(
                        Observation(slot, "vanished", detail=f"{slot_label(slot)} ({short(was)}) is no longer listed")
                    )
                elif expectation is not None:
                    observations.append(
                        Observation(slot, "missing", detail=f"{slot_label(slot)} is in the manifest but not listed")
                    )
                continue
            known = before.get(slot)
            not_after = expiries.get(slot)
            if not_after is None and known is not None and known.sha256 and entry.sha256 == known.sha256:
                not_after = known.not_after
            state, detail = _present_state(entry, row, known, expectation, expectations, not_after, now, expiring_days)
            observations.append(Observation(slot, state, entry.sha256, entry.sha256_prefix, not_after, detail))
    failing = {f.sec_tag: f.error for f in tls_failures}
    states = {o.slot: o for o in observations}
    for tag, error in sorted(failing.items()):
        observations.append(Observation((tag, TLS_SLOT_TYPE), "tls-error", detail=tls_detail(tag, error, states, rows)))
    for slot in sorted(rows):
        if slot[1] == TLS_SLOT_TYPE and slot[0] not in failing:
            observations.append(
                Observation(slot, "ok", detail=f"TLS connect with sec_tag {slot[0]} reported no failure")
            )
    return observations


#: Slot states that explain a TLS failure on their sec_tag.
_TLS_CAUSES = ("vanished", "missing", "changed", "expired", "unexpected")


def tls_detail(tag: int, error: int, observed: Mapping[Slot, Observation], rows: Mapping[Slot, SlotRow]) -> str:
    """A TLS failure on a sec_tag, explained (`credwarden explain`) and correlated with the tag's slots."""
    text = f"TLS connect with sec_tag {tag} failed: {error}"
    try:
        explanation = explain(str(error))
    except ExplainInputError:
        explanation = None
    if explanation is not None and explanation.interpretations:
        best = next((i for i in explanation.interpretations if i.credential_related), explanation.interpretations[0])
        text += f" ({best.name}: {best.credential_cause})"
    causes = []
    for slot in sorted(set(observed) | set(rows)):
        if slot[0] != tag or slot[1] == TLS_SLOT_TYPE:
            continue
        state = observed[slot].state if slot in observed else rows[slot].state
        if state in _TLS_CAUSES:
            causes.append(f"{type_name(slot[1])} {state}")
    if causes:
        text += f"; on this device sec_tag {tag} has: {', '.join(causes)}"
    return text


def advance(
    row: SlotRow | None,
    observation: Observation,
    *,
    device_id: int,
    now: datetime,
    confirm: int,
    known_device: bool,
    seen_before: bool,
) -> tuple[SlotRow, Transition | None]:
    """The slot's next state after one observation, and the transition it confirmed (if any)."""
    tag, code = observation.slot
    if row is None:
        new_slot = known_device and not seen_before and code != TLS_SLOT_TYPE
        if observation.state in IMMEDIATE and not (new_slot and observation.state != "missing"):
            fresh = SlotRow(device_id, tag, code, observation.state, now, observation.sha256)
            return fresh, None
        row = SlotRow(device_id, tag, code, "ok", now, None if new_slot else observation.sha256)
        if new_slot and observation.state in IMMEDIATE:
            return _pending(row, APPEARED, observation, now, confirm)
    else:
        row = replace(row)
    if row.pending_state == APPEARED and observation.state in IMMEDIATE and observation.state != "missing":
        return _pending(row, APPEARED, observation, now, confirm)
    if observation.state == row.state:
        row.pending_state, row.pending_count, row.pending_since = None, 0, None
        if observation.state in PRESENT and observation.sha256:
            row.sha256 = observation.sha256
        return row, None
    return _pending(row, observation.state, observation, now, confirm)


def _pending(
    row: SlotRow, state: str, observation: Observation, now: datetime, confirm: int
) -> tuple[SlotRow, Transition | None]:
    if row.pending_state == state:
        row.pending_count += 1
    else:
        row.pending_state, row.pending_count, row.pending_since = state, 1, now
    if row.pending_count < confirm:
        return row, None
    since = row.pending_since or now
    old = row.state
    if state == APPEARED:
        transition = Transition(row.device_id, row.slot, None, APPEARED, since, f"{slot_label(row.slot)} appeared")
        row.state = "ok" if observation.state == "ok" else observation.state
    else:
        transition = Transition(row.device_id, row.slot, old, state, since, observation.detail)
        row.state = state
    row.since = since
    row.pending_state, row.pending_count, row.pending_since = None, 0, None
    if row.state in PRESENT and observation.sha256:
        row.sha256 = observation.sha256
    return row, transition


@dataclass
class AlertChanges:
    """What a batch of transitions does to the alerts table."""

    fired: list[AlertRow] = field(default_factory=list)
    resolved: list[AlertRow] = field(default_factory=list)


def alert_changes(
    transitions: Iterable[Transition], open_alerts: list[AlertRow], *, imei: str, now: datetime
) -> AlertChanges:
    """New and resolved alerts for one device's transitions (`open_alerts` is updated in place)."""
    changes = AlertChanges()
    for t in transitions:
        tag, code = t.slot
        type_code = None if code == TLS_SLOT_TYPE else code
        if t.new == APPEARED:
            changes.fired.append(
                AlertRow(0, t.device_id, "appeared", tag, type_code, t.since, now, now, t.detail, imei=imei)
            )
            continue
        if t.old in ALARMING:
            for alert in [a for a in open_alerts if a.key == (t.old, tag, type_code)]:
                alert.resolved_at = now
                alert.detail = f"{t.old} resolved: {t.detail}"
                changes.resolved.append(alert)
                open_alerts.remove(alert)
        if t.new in ALARMING and not any(a.key == (t.new, tag, type_code) for a in open_alerts):
            alert = AlertRow(0, t.device_id, t.new, tag, type_code, t.since, now, None, t.detail, imei=imei)
            changes.fired.append(alert)
            open_alerts.append(alert)
    return changes


def resolve_silence(open_alerts: list[AlertRow], *, now: datetime, detail: str) -> list[AlertRow]:
    """A report from a device resolves its open `silent` alert."""
    resolved = [a for a in open_alerts if a.kind == "silent"]
    for alert in resolved:
        alert.resolved_at = now
        alert.detail = f"silent resolved: {detail}"
        open_alerts.remove(alert)
    return resolved


def silent_alert(device_id: int, imei: str, last_report: datetime, *, now: datetime, interval_s: int) -> AlertRow:
    """The `silent` alert of a device whose last report is older than the threshold."""
    hours = (now - last_report).total_seconds() / 3600
    detail = f"no report for {hours:.1f} h (last {last_report:%Y-%m-%d %H:%M}Z; reports expected every {interval_s} s)"
    return AlertRow(0, device_id, "silent", None, None, last_report, now, None, detail, imei=imei)
