"""The plan: desired credentials vs what the device lists -> what to skip, write, delete (a pure function).

Per (sec_tag, type) named by the manifest:
* `skip`   — stored content is identical (digest of any common encoding, or equal content read back);
* `write`  — missing, different, or unverifiable with `unverifiable = "rewrite"` (the reason says which);
* `delete` — a user type on a named tag that the manifest does not list, only when that tag is `exclusive`
             or `prune` is asked; reserved tags and modem-owned types are never touched;
* `unverifiable` — a PRE-EXISTING entry whose content cannot be compared (modem-behaviour.md#placeholder-digests, and a
             type that cannot be read back), with `unverifiable = "fail"` (apply refuses to go on, exit 6); with
             `"warn"` it is kept (skip, with a warning); with `"rewrite"` it is written once.

Two inputs from `apply` override the policy:
* `interrupted` — slots with a pending intent in the write journal (a previous write/delete was cut): written
  again ("interrupted write: rewrite") unless a real digest or a read-back proves the content identical;
* `written` — slots this run wrote, the modem acknowledged with OK and lists with a placeholder digest of the
  right type: "written, unverifiable by this firmware" counts as done (skip), so the final check does not plan
  them again.

SLM native TLS (modem-behaviour.md#xcmng): a credential (tag, type) lives in the modem at (tag*10+type, type 0).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from credwarden.creds.encoding import (
    abbreviated_digest,
    describe_encoding,
    match_digest,
    predicted_sha256,
    same_credential,
)
from credwarden.models import DeviceInfo, StoredEntry
from credwarden.provision.manifest import KeygenTable
from credwarden.provision.resolve import DesiredCredential
from credwarden.types import (
    READABLE_TYPES,
    CredType,
    Dialect,
    slot_json,
    type_name,
    user_deletable,
)

#: Plan actions; `keygen` only appears in apply reports (an on-device key generated for a `[[keygen]]` table).
Action = Literal["skip", "write", "delete", "unverifiable", "keygen"]
Slot = tuple[int, int]  #: (sec_tag, type) as the modem stores it
NATIVE_TLS_TYPES = (0, 1, 2, 3, 4)


def modem_slot(sec_tag: int, cred_type: int, native_tls: bool) -> Slot:
    """Where the modem stores a credential: itself, or (tag*10+type, 0) for SLM native TLS."""
    return (sec_tag * 10 + cred_type, 0) if native_tls else (sec_tag, cred_type)


def expected_encoding(dialect: Dialect) -> str:
    """The encoding name credwarden's own writes produce in this dialect (see creds.encoding)."""
    return "crlf" if dialect == "shell" else "lf"


@dataclass(frozen=True)
class PlannedAction:
    """One line of the plan."""

    sec_tag: int
    type: int
    action: Action
    reason: str
    desired: DesiredCredential | None = None
    observed: StoredEntry | None = None
    native_tls: bool = False

    @property
    def slot(self) -> Slot:
        return modem_slot(self.sec_tag, self.type, self.native_tls)

    @property
    def changes_device(self) -> bool:
        return self.action in ("write", "delete")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            **slot_json(self.sec_tag, self.type),
            "action": self.action,
            "reason": self.reason,
        }
        if self.native_tls:
            data["modem_sec_tag"], data["modem_type"] = self.slot
        return data


KeygenDecision = Literal["skip", "generate", "at-apply"]


@dataclass(frozen=True)
class KeygenRow:
    """What the plan can tell about one `[[keygen]]` table from the device list (the factory job runs it)."""

    sec_tag: int
    decision: KeygenDecision
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"sec_tag": self.sec_tag, "decision": self.decision, "reason": self.reason}


def decide_keygen(
    table: KeygenTable, entries: Iterable[StoredEntry], issued_pem: bytes | None, issued_valid: bool
) -> KeygenRow:
    """Keygen row for one table: `issued_pem` is the certificate issued earlier to this device for the tag (from
    `--out-dir`), None when unknown; `issued_valid`: it chains to the table's CA and is within its validity."""
    stored = {e.type: e for e in entries if e.sec_tag == table.sec_tag}
    key = stored.get(int(CredType.CLIENT_KEY))
    cert = stored.get(int(CredType.CLIENT_CERT))
    tag = table.sec_tag
    if key is None:
        return KeygenRow(tag, "generate", "keygen: no key on this sec_tag -> generate")
    if issued_pem is None or cert is None or _unproven(cert):
        why = (
            "no issued certificate known (give --out-dir)"
            if issued_pem is None
            else "no client certificate listed"
            if cert is None
            else "the firmware prints placeholder digests"
        )
        return KeygenRow(tag, "at-apply", f"keygen (decided at apply): key present, {why}")
    if match_digest(issued_pem, cert.sha256 or "") is not None and issued_valid:
        return KeygenRow(tag, "skip", "keygen: key present + cert matches the issued certificate -> skip")
    why = "expired or not from this CA" if match_digest(issued_pem, cert.sha256 or "") else "cert differs"
    if not table.replace_key:
        return KeygenRow(tag, "at-apply", f"keygen: key present, issued {why}; replace_key = false: apply will refuse")
    return KeygenRow(tag, "generate", f"keygen: key present, issued {why} -> replace key and generate")


@dataclass(frozen=True)
class Plan:
    """The ordered actions (deletes, then writes by sec_tag and type, skips listed too), and keygen rows."""

    actions: tuple[PlannedAction, ...]
    dialect: Dialect
    keygen: tuple[KeygenRow, ...] = ()
    observed: tuple[StoredEntry, ...] = ()  #: the list the plan was made from (what the device stores)
    device: DeviceInfo | None = None  #: the device it was made for (set by `provision.apply.plan`)
    notes: tuple[str, ...] = ()  #: what the observation could not see (a store too large to list whole)

    @property
    def complete(self) -> bool:
        """`observed` is the whole store (not a tag-by-tag view of a store too large for one list)."""
        return not self.notes

    @property
    def changes(self) -> tuple[PlannedAction, ...]:
        return tuple(a for a in self.actions if a.changes_device)

    @property
    def blocked(self) -> tuple[PlannedAction, ...]:
        """Entries that cannot be proven identical and whose policy says fail."""
        return tuple(a for a in self.actions if a.action == "unverifiable")

    @property
    def in_sync(self) -> bool:
        return not self.changes and not self.blocked and all(k.decision == "skip" for k in self.keygen)

    def to_json(self) -> dict[str, Any]:
        counts = {
            name: sum(1 for a in self.actions if a.action == name)
            for name in ("skip", "write", "delete", "unverifiable")
        }
        return {
            "device": self.device.to_json() if self.device is not None else None,
            "dialect": self.dialect,
            "in_sync": self.in_sync,
            "counts": counts,
            "actions": [a.to_json() for a in self.actions],
            "keygen": [k.to_json() for k in self.keygen],
            "notes": list(self.notes),
        }


def readback_slots(
    desired: Iterable[DesiredCredential], observed: Iterable[StoredEntry], dialect: Dialect
) -> list[Slot]:
    """Modem slots worth reading back: readable, non-secret, and stored with a digest that proves nothing."""
    by_slot = {(e.sec_tag, e.type): e for e in observed}
    slots: list[Slot] = []
    for item in desired:
        slot = modem_slot(item.sec_tag, int(item.type), item.options.native_tls)
        entry = by_slot.get(slot)
        if entry is None or item.credential.secret or slot[1] not in READABLE_TYPES:
            continue
        if _digest_match(item, entry) is None:
            slots.append(slot)
    return slots


def _digest_match(item: DesiredCredential, entry: StoredEntry) -> str | None:
    if entry.sha256 is None or entry.placeholder_digest:
        return None
    return match_digest(item.credential.content, entry.sha256)


def _unproven(entry: StoredEntry) -> bool:
    return entry.sha256 is None or entry.placeholder_digest


#: Reason of a skip decided by the write ledger (plan output and reports show it).
LEDGER_SKIP = "identical per write ledger (firmware prints placeholder digests): verified by ledger, not by the device"


def decide(
    item: DesiredCredential,
    entry: StoredEntry | None,
    dialect: Dialect,
    readback: Mapping[Slot, bytes],
    *,
    interrupted: bool = False,
    written: bool = False,
    ledger_sha256: str | None = None,
) -> PlannedAction:
    """The action for one desired credential given what the modem lists (and read back, when available).

    `interrupted`: the write journal holds a pending intent for this slot; `written`: this run wrote it and the
    modem acknowledged it; `ledger_sha256`: the write ledger's digest for this slot (see the module doc)."""
    native = item.options.native_tls
    slot = modem_slot(item.sec_tag, int(item.type), native)

    def action(kind: Action, reason: str) -> PlannedAction:
        return PlannedAction(
            item.sec_tag, int(item.type), kind, reason, desired=item, observed=entry, native_tls=native
        )

    if entry is None:
        return action("write", "missing" + (" (an earlier write was interrupted)" if interrupted else ""))
    done = " (an interrupted earlier write had completed)" if interrupted else ""
    matched = _digest_match(item, entry)
    if matched is not None:
        if matched in (expected_encoding(dialect), "psk-lower", "raw"):
            return action("skip", "identical" + done)
        return action("skip", f"identical (stored with {describe_encoding(matched)})" + done)
    content = readback.get(slot)
    if content is not None:
        if same_credential(item.type, content, item.credential.content):
            return action("skip", "identical (content read back, different encoding)" + done)
        return action("write", "different (content read back differs)")
    if interrupted:
        return action(
            "write",
            "interrupted write: rewrite (a previous run was cut during this write and the "
            "stored content cannot be proven complete)",
        )
    if written and entry.placeholder_digest:
        return action(
            "skip",
            "written in this run; unverifiable by this firmware (placeholder digest): acknowledged with OK and listed",
        )
    if ledger_sha256 is not None and _unproven(entry):
        if match_digest(item.credential.content, ledger_sha256) is not None:
            return action("skip", LEDGER_SKIP)
        return action(
            "write",
            "different per write ledger (a previous run wrote other content here; firmware prints placeholder digests)",
        )
    if not _unproven(entry):
        expected = predicted_sha256(item.credential.content, dialect)
        stored_sha = entry.sha256 or ""
        shown = f"stored sha256 {abbreviated_digest(stored_sha)}, expected {abbreviated_digest(expected)}"
        return action("write", f"different ({shown})")
    why = "the firmware prints placeholder digests" if entry.placeholder_digest else "the firmware lists no digest"
    readable = slot[1] in READABLE_TYPES and not item.credential.secret
    if readable:
        why += " and the content was not read back"
    else:
        why += f" and {type_name(item.type)} cannot be read back"
    policy = item.options.unverifiable
    if policy == "rewrite":
        return action("write", f"unverifiable ({why}); rewritten (unverifiable=rewrite)")
    if policy == "warn":
        return action("skip", f"unverifiable ({why}); kept as stored (unverifiable=warn)")
    return action("unverifiable", f"{why}; cannot prove it is identical (unverifiable=fail)")


def _deletable(entry: StoredEntry) -> bool:
    return user_deletable(entry.sec_tag, entry.type)


def make_plan(
    desired: Iterable[DesiredCredential],
    observed: Iterable[StoredEntry],
    *,
    dialect: Dialect,
    readback: Mapping[Slot, bytes] | None = None,
    prune: bool = False,
    interrupted: Collection[Slot] = (),
    written: Collection[Slot] = (),
    ledger: Mapping[Slot, str] | None = None,
) -> Plan:
    """Compare desired with observed state. Pure: no I/O, same inputs -> same plan.

    `interrupted` / `written`: modem slots with a pending journal intent / written and acknowledged in this run;
    `ledger`: modem slot -> digest of the write a previous run completed there (write ledger)."""
    items = sorted(desired, key=lambda d: (d.sec_tag, int(d.type)))
    entries = list(observed)
    by_slot = {(e.sec_tag, e.type): e for e in entries}
    readback = readback or {}
    ledger = ledger or {}
    actions: list[PlannedAction] = []

    wanted_slots = {modem_slot(d.sec_tag, int(d.type), d.options.native_tls) for d in items}
    scopes: dict[Slot, tuple[int, int, bool, str]] = {}  # modem slot -> (tag, type, native, why)
    for item in items:
        if not (item.options.exclusive or prune):
            continue
        why = "exclusive" if item.options.exclusive else "--prune"
        if item.options.native_tls:
            for code in NATIVE_TLS_TYPES:
                scopes[modem_slot(item.sec_tag, code, True)] = (item.sec_tag, code, True, why)
        else:
            for entry in entries:
                if entry.sec_tag == item.sec_tag:
                    scopes.setdefault((entry.sec_tag, entry.type), (entry.sec_tag, entry.type, False, why))
    for slot, (tag, code, native, why) in sorted(scopes.items()):
        stored = by_slot.get(slot)
        if stored is None or slot in wanted_slots or not _deletable(stored):
            continue
        actions.append(
            PlannedAction(
                tag, code, "delete", f"not in the manifest ({why} sec_tag {tag})", observed=stored, native_tls=native
            )
        )

    for item in items:
        slot = modem_slot(item.sec_tag, int(item.type), item.options.native_tls)
        actions.append(
            decide(
                item,
                by_slot.get(slot),
                dialect,
                readback,
                interrupted=slot in interrupted,
                written=slot in written,
                ledger_sha256=ledger.get(slot),
            )
        )
    return Plan(tuple(actions), dialect, observed=tuple(entries))


def write_digest_ok(item: DesiredCredential, sha: str | None, dialect: Dialect) -> bool | None:
    """After a write: True when the listed digest is one of the content's encodings, False when it differs,
    None when the firmware's digest proves nothing (placeholder / absent)."""
    if sha is None or sha.upper() == f"{item.type if not item.options.native_tls else 0:02X}" * 32:
        return None
    return match_digest(item.credential.content, sha) is not None
