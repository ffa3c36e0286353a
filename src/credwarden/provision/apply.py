"""Apply a manifest to one device: validate -> plan -> (offline once) write/delete what differs -> verify -> report.

Guarantees:
* nothing is sent before the whole manifest validated (placeholder manifests: after the read-only identity
  queries only);
* nothing changes on the device when nothing differs (no CFUN change, no write);
* each write is verified by digest (`AT%CMNG=1,tag,type`) and, for readable types, by read-back; a mismatch is
  rewritten once; a lost result (timeout) is resolved by reading what is stored, never by a blind rewrite;
* placeholder-digest firmware (< 1.3, spec §2.8): the `unverifiable` policy (fail | warn | rewrite) governs only
  PRE-EXISTING entries whose content cannot be compared. A write of this run that the modem acknowledged with OK
  and then lists (placeholder digest of the right type) is "written, unverifiable by this firmware": done, with a
  warning in the report (a write whose OK was lost is sent once more, then fails);
* every write/delete is preceded by an intent in the device's write journal (`provision.journal`) and the intent
  is cleared once acknowledged and verified; a pending intent makes the next plan rewrite that entry whatever the
  policy (unless a real digest or a read-back proves it complete), so a write cut by a power loss is repaired;
* a completed write the firmware cannot prove by digest is recorded in the journal's write ledger, so a re-apply
  of the same manifest on placeholder-digest firmware skips it ("identical per write ledger") instead of failing
  on the `unverifiable` policy; a delete, or an entry no longer listed, forgets its record;
* a reboot mid-run re-establishes the session guards and re-plans from a fresh list (at most twice; a reboot
  while planning or verifying — identify, list, read-back — plans or lists once more);
* success only when a final list proves the device state equals the manifest; CFUN is left as found.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from credwarden.at.info import parse_firmware_version, parse_imei
from credwarden.creds.encoding import Dialect, predicted_sha256, same_credential
from credwarden.errors import (
    DeviceRebooted,
    DeviceTimeout,
    ExitCode,
    ModemError,
    NotFound,
    UsageError,
    ValidationError,
)
from credwarden.models import DeviceInfo, StoredEntry
from credwarden.provision.journal import WriteJournal
from credwarden.provision.manifest import KeygenTable, Manifest, effective_options, load_manifest
from credwarden.provision.plan import (
    LEDGER_SKIP,
    KeygenRow,
    Plan,
    PlannedAction,
    Slot,
    decide_keygen,
    make_plan,
    readback_slots,
    write_digest_ok,
)
from credwarden.provision.resolve import DesiredCredential, DeviceIdentity, resolve_manifest
from credwarden.types import READABLE_TYPES

if TYPE_CHECKING:
    from credwarden.modem.device import Device

log = logging.getLogger("credwarden.provision")

ApplyObserver = Callable[[str, Any], None]
Status = Literal["unchanged", "planned", "written", "deleted", "failed", "blocked", "kept"]
#: Detail of a write the modem acknowledged but whose digest is a placeholder and whose type cannot be read back.
UNVERIFIABLE_WRITE = "written, unverifiable by this firmware (placeholder digest)"

#: How many times a run re-plans after the device rebooted under it.
MAX_REPLANS = 2


@dataclass(frozen=True)
class ActionResult:
    """What happened to one planned action."""

    action: PlannedAction
    status: Status
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        reason = self.action.reason if not self.detail else f"{self.action.reason}; {self.detail}"
        data = self.action.to_json()
        return {
            "sec_tag": data["sec_tag"],
            "type": data["type"],
            "type_name": data["type_name"],
            "action": data["action"],
            "status": self.status,
            "reason": reason,
        }

    @property
    def warning(self) -> str | None:
        """What the operator should know although the action succeeded (unverifiable entries)."""
        a = self.action
        if self.status == "written" and UNVERIFIABLE_WRITE in self.detail:
            return f"{a.sec_tag}/{a.type}: {UNVERIFIABLE_WRITE} (acknowledged with OK and listed)"
        if self.status == "kept":
            return f"{a.sec_tag}/{a.type}: kept as stored although it cannot be verified (unverifiable=warn)"
        if self.status == "unchanged" and a.reason == LEDGER_SKIP:
            return f"{a.sec_tag}/{a.type}: {LEDGER_SKIP}"
        return None


@dataclass(frozen=True)
class ApplyReport:
    """The outcome of `apply` (also of a dry run)."""

    ok: bool
    device: DeviceInfo
    plan: Plan
    results: tuple[ActionResult, ...]
    dry_run: bool = False
    message: str | None = None
    commands: int = 0  #: AT commands this run sent
    nvm_operations: int = 0  #: writes + deletes this run sent
    exit_code: ExitCode = ExitCode.OK

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w for w in (r.warning for r in self.results) if w is not None)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "message": self.message,
            "device": self.device.to_json(),
            "actions": [r.to_json() for r in self.results],
            "warnings": list(self.warnings),
            "commands": self.commands,
            "nvm_operations": self.nvm_operations,
        }


@dataclass
class _Run:
    dev: Device
    dialect: Dialect
    observer: ApplyObserver | None
    journal: WriteJournal
    results: dict[tuple[int, int, str], ActionResult] = field(default_factory=dict)
    refused: bool = False
    firmware: str | None = None  #: firmware string, recorded with ledger entries
    written: set[Slot] = field(default_factory=set)  #: acknowledged writes the firmware cannot verify

    def notify(self, stage: str, info: Any) -> None:
        if self.observer is not None:
            try:
                self.observer(stage, info)
            except Exception:  # an observer must never break a provisioning run
                log.exception("apply observer failed on %s", stage)

    def record(self, result: ActionResult) -> None:
        a = result.action
        self.results[(a.sec_tag, a.type, a.action)] = result


# -- public API ---------------------------------------------------------------------------------------------


def _loaded(manifest: Manifest | str | Path) -> Manifest:
    return manifest if isinstance(manifest, Manifest) else load_manifest(manifest)


def _dialect(dev: Device) -> Dialect:
    name = dev.dialect
    if name not in ("at_client", "shell", "slm"):
        raise UsageError(f"unknown dialect {name!r}")
    return name  # type: ignore[return-value]


def device_identity(dev: Device, loaded: Manifest) -> DeviceInfo:
    """Identity for the report and placeholders, with as few commands as possible (full `info()` for {uuid})."""
    if any("{uuid}" in (t.file or "") for t in loaded.spec.credential) or any(
        "{uuid}" in t.file for t in loaded.spec.nrfcloud
    ):
        return dev.info()
    imei: str | None = None
    firmware: str | None = None
    with contextlib.suppress(ModemError):
        imei = parse_imei(list(dev.at("AT+CGSN").lines))
    with contextlib.suppress(ModemError):
        lines = dev.at("AT+CGMR").lines
        firmware = lines[0].strip() if lines else None
    return DeviceInfo(
        imei=imei,
        model=None,
        firmware=firmware,
        firmware_version=parse_firmware_version(firmware),
        uuid=None,
        modem_build_uuid=None,
        cfun=dev.original_cfun,
        dialect=dev.dialect,
        port=dev.port,
    )


def desired_for(
    dev: Device,
    loaded: Manifest,
    info: DeviceInfo,
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> list[DesiredCredential]:
    """Resolve and validate the manifest for this device (device-dependent checks included)."""
    dialect = _dialect(dev)
    spec = loaded.spec
    for index, table in enumerate([*spec.credential, *spec.nrfcloud]):
        if dialect != "slm" and effective_options(spec, table).native_tls:
            kind = "credential" if index < len(spec.credential) else "nrfcloud"
            position = index if kind == "credential" else index - len(spec.credential)
            raise ValidationError(
                f"native_tls needs the Serial LTE Modem (slm) dialect; this device speaks {dialect}",
                source=f"{loaded.name}: {kind}[{position}]",
            )
    identity = DeviceIdentity(
        imei=info.imei, uuid=info.uuid, dialect=dialect, firmware_version=info.firmware_version, check_firmware=True
    )
    return resolve_manifest(loaded, identity, env=env, now=now)


def observe_and_plan(
    dev: Device,
    desired: list[DesiredCredential],
    *,
    prune: bool = False,
    journal: WriteJournal | None = None,
    written: set[Slot] | None = None,
    tidy_ledger: bool = False,
) -> Plan:
    """One full list (`AT%CMNG=1`), read-backs only where digests prove nothing, then the pure plan.

    `journal`: its pending intents mark interrupted writes, its ledger completed writes; `written`: slots
    acknowledged in this run; `tidy_ledger`: forget ledger records of slots the list no longer shows (apply only,
    `plan` never changes the journal)."""
    dialect = _dialect(dev)
    observed = dev.list()
    ledger = journal.ledger() if journal is not None else {}
    listed = {(e.sec_tag, e.type) for e in observed}
    vanished = [slot for slot in ledger if slot not in listed]
    if vanished and journal is not None and tidy_ledger:
        journal.forget(*vanished)
    readback: dict[tuple[int, int], bytes] = {}
    for tag, code in readback_slots(desired, observed, dialect):
        try:
            readback[(tag, code)] = dev.read(tag, code).content
        except NotFound:
            continue
    interrupted = journal.pending() if journal is not None else {}
    return make_plan(
        desired,
        observed,
        dialect=dialect,
        readback=readback,
        prune=prune,
        interrupted=interrupted,
        written=written or set(),
        ledger={slot: r.sha256 for slot, r in ledger.items() if slot in listed},
    )


def plan(
    dev: Device,
    manifest: Manifest | str | Path,
    *,
    prune: bool = False,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    journal_dir: Path | None = None,
    out_dir: Path | None = None,
) -> Plan:
    """What `apply` would do on this device (read-only; the write journal is read, never changed).

    `[[keygen]]` tables get a row each, decided from the list and the certificates issued into `out_dir`."""
    loaded = _loaded(manifest)
    _prevalidate(loaded, dev, env, now)
    info = device_identity(dev, loaded)
    journal = WriteJournal.for_device(info.imei, info.uuid, journal_dir)
    result = observe_and_plan(dev, desired_for(dev, loaded, info, env=env, now=now), prune=prune, journal=journal)
    if not loaded.spec.keygen:
        return result
    entries = dev.list()
    rows = tuple(_keygen_row(t.resolved(loaded.base_dir), entries, info, out_dir, now) for t in loaded.spec.keygen)
    return replace(result, keygen=rows)


def _keygen_row(
    table: KeygenTable, entries: list[StoredEntry], info: DeviceInfo, out_dir: Path | None, now: datetime | None
) -> KeygenRow:
    """The plan row of one [[keygen]] table, with the certificate issued earlier (`out_dir`) when there is one."""
    from cryptography import x509

    from credwarden.factory.keygen import cert_pem, chains_to, issued_cert_path

    issued_pem: bytes | None = None
    valid = False
    device = info.imei or info.uuid
    if out_dir is not None and device:
        path = issued_cert_path(out_dir, device, table.sec_tag)
        try:
            issued = x509.load_pem_x509_certificate(path.read_bytes())
            ca = x509.load_pem_x509_certificate(table.ca_cert.read_bytes())
        except (OSError, ValueError):
            issued = None
        if issued is not None:
            moment = now or datetime.now(UTC)
            issued_pem = cert_pem(issued)
            valid = chains_to(issued, ca) and issued.not_valid_before_utc <= moment < issued.not_valid_after_utc
    return decide_keygen(table, entries, issued_pem, valid)


def apply(
    dev: Device,
    manifest: Manifest | str | Path,
    *,
    dry_run: bool = False,
    prune: bool = False,
    observer: ApplyObserver | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    journal_dir: Path | None = None,
) -> ApplyReport:
    """Make the device hold exactly what the manifest says (see module doc). ValidationError before any write.

    `journal_dir` overrides where the write journal lives (default: `provision.journal.default_journal_dir()`)."""
    loaded = _loaded(manifest)
    start_commands, start_nvm = dev.stats.commands, dev.stats.nvm_operations
    _prevalidate(loaded, dev, env, now)
    for planning in (1, 2):  # a reboot while identifying/listing/reading: re-establish and plan once more
        try:
            info = device_identity(dev, loaded)
            desired = desired_for(dev, loaded, info, env=env, now=now)
            journal = WriteJournal.for_device(info.imei, info.uuid, journal_dir)
            run = _Run(dev, _dialect(dev), observer, journal, firmware=info.firmware)
            current = observe_and_plan(dev, desired, prune=prune, journal=journal, tidy_ledger=not dry_run)
            break
        except DeviceRebooted as exc:
            if planning == 2:
                raise
            log.warning("device rebooted while planning (%s); planning again", exc)
            dev.reestablish()
    run.notify("plan", current)
    first_plan = current

    def report(ok: bool, message: str | None, code: ExitCode, shown: Plan) -> ApplyReport:
        results = tuple(_result_for(a, run, dry_run) for a in shown.actions)
        return ApplyReport(
            ok=ok,
            device=info,
            plan=shown,
            results=results,
            dry_run=dry_run,
            message=message,
            commands=dev.stats.commands - start_commands,
            nvm_operations=dev.stats.nvm_operations - start_nvm,
            exit_code=code,
        )

    blocked = {a.slot for a in current.blocked}
    if blocked:
        for action in current.blocked:
            run.record(ActionResult(action, "blocked"))
        if dry_run or not current.changes:
            return report(
                False,
                'some stored entries cannot be verified (unverifiable = "fail"); nothing was written',
                ExitCode.VERIFICATION,
                current,
            )
    if dry_run:
        return report(
            True, None if current.changes else "the device already matches the manifest", ExitCode.OK, current
        )
    if not current.changes:
        journal.clear(*(a.slot for a in current.actions))  # pending intents found complete (proven identical)
        return report(True, "the device already matches the manifest", ExitCode.OK, current)

    for attempt in range(MAX_REPLANS + 1):
        try:
            _execute(run, current)
            break
        except DeviceRebooted as exc:  # dev.reestablish() and the offline guard leave CFUN as found at start
            log.warning("device rebooted during apply (%s); re-planning from a fresh list", exc)
            run.notify("reboot", str(exc))
            dev.reestablish()
            if attempt == MAX_REPLANS:
                return report(
                    False,
                    f"the device rebooted {attempt + 1} times during the run; stopped",
                    ExitCode.TRANSPORT,
                    first_plan,
                )
            current = observe_and_plan(
                dev, desired, prune=prune, journal=journal, written=run.written, tidy_ledger=True
            )
            run.notify("plan", current)

    run.notify("verify", None)
    try:
        final = observe_and_plan(dev, desired, prune=prune, journal=journal, written=run.written, tidy_ledger=True)
    except DeviceRebooted as exc:  # the final list is read again on the re-established session
        log.warning("device rebooted while verifying (%s); listing again", exc)
        dev.reestablish()
        final = observe_and_plan(dev, desired, prune=prune, journal=journal, written=run.written, tidy_ledger=True)
    leftovers = final.changes + tuple(a for a in final.blocked if a.slot not in blocked)
    for action in leftovers:
        key = (action.sec_tag, action.type, "write" if action.action == "unverifiable" else action.action)
        previous = run.results.get(key)
        if previous is None or previous.status != "failed":
            run.record(ActionResult(action, "failed", "the final list still differs"))
    if run.refused:
        return report(False, "the modem refused some changes", ExitCode.MODEM_REFUSED, first_plan)
    if leftovers or any(r.status == "failed" for r in run.results.values()):
        return report(
            False, "the device state differs from the manifest after the run", ExitCode.VERIFICATION, first_plan
        )
    # the final list proves every slot of the plan: intents left on them (deletes found done) are settled
    journal.clear(*{a.slot for a in (*first_plan.actions, *final.actions)} - blocked)
    if blocked:
        return report(
            False,
            f"{len(blocked)} stored entr{'ies' if len(blocked) > 1 else 'y'} cannot be verified "
            '(unverifiable = "fail") and were left as stored; everything else was applied',
            ExitCode.VERIFICATION,
            first_plan,
        )
    return report(True, None, ExitCode.OK, first_plan)


# -- internals ----------------------------------------------------------------------------------------------


def _prevalidate(loaded: Manifest, dev: Device, env: Mapping[str, str] | None, now: datetime | None) -> None:
    """Validate everything that does not depend on the device before sending anything (placeholder-free)."""
    from credwarden.provision.resolve import uses_placeholders

    if not uses_placeholders(loaded):
        resolve_manifest(loaded, DeviceIdentity(dialect=_dialect(dev)), env=env, now=now)


def _result_for(action: PlannedAction, run: _Run, dry_run: bool) -> ActionResult:
    result = run.results.get((action.sec_tag, action.type, action.action))
    if result is not None:
        return result
    if action.action == "skip":
        return ActionResult(action, "kept" if "unverifiable" in action.reason else "unchanged")
    if action.action == "unverifiable":
        return ActionResult(action, "blocked")
    return ActionResult(action, "planned" if dry_run else "failed", "" if dry_run else "not attempted")


def _execute(run: _Run, current: Plan) -> None:
    changes = current.changes
    with run.dev.offline():
        for index, action in enumerate(changes, start=1):
            run.notify(f"{action.action} {index}/{len(changes)}", action)
            try:
                if action.action == "delete":
                    run.record(_delete(run, action))
                else:
                    run.record(_write_verified(run, action))
            except ModemError as exc:
                run.refused = True
                run.record(ActionResult(action, "failed", f"the modem refused: {exc}"))


def _send_write(run: _Run, action: PlannedAction) -> None:
    item = action.desired
    assert item is not None
    content = item.credential.content
    run.journal.begin(action.slot, "write", predicted_sha256(content, run.dialect))
    if action.native_tls:
        if b'"' in content:
            raise ValidationError('content contains a double quote (")', source=item.credential.source)
        run.dev.at(f'AT#XCMNG=0,{action.sec_tag},{action.type},"{content.decode("ascii")}"')
    else:
        run.dev.write(action.sec_tag, action.type, content, item.credential.password)


def _send_delete(run: _Run, action: PlannedAction) -> None:
    run.journal.begin(action.slot, "delete", None)
    if action.native_tls:
        run.dev.at(f"AT#XCMNG=3,{action.sec_tag},{action.type}")
    else:
        run.dev.delete(action.sec_tag, action.type)


def _delete(run: _Run, action: PlannedAction) -> ActionResult:
    try:
        _send_delete(run, action)
    except NotFound:
        _deleted(run, action.slot)
        return ActionResult(action, "deleted", "already absent")
    except DeviceTimeout:
        run.dev.session.resync()
        tag, code = action.slot
        if run.dev.list(tag, code):
            return ActionResult(action, "failed", "the delete timed out and the entry is still listed")
        _deleted(run, action.slot)
        return ActionResult(action, "deleted", "the result was lost; the entry is gone")
    _deleted(run, action.slot)
    return ActionResult(action, "deleted")


def _deleted(run: _Run, slot: Slot) -> None:
    run.journal.clear(slot)
    run.journal.forget(slot)


def _write_verified(run: _Run, action: PlannedAction) -> ActionResult:
    """Write, verify, rewrite once on mismatch. A timeout is resolved from what the device stores."""
    notes: list[str] = []
    for attempt in (1, 2):
        acknowledged = True
        try:
            _send_write(run, action)
        except DeviceTimeout:
            acknowledged = False
            if not run.dev.session.resync():
                raise DeviceTimeout(
                    f"the device stopped answering during the write of {action.sec_tag}/"
                    f"{action.type}; the next run will find and repair what is stored"
                ) from None
            notes.append("the write timed out; checked what is stored")
            log.warning("write of %d/%d timed out; reading the stored state", action.sec_tag, action.type)
        run.notify("verify", action)
        verdict, detail, placeholder = _verify(run, action)
        if verdict is True:
            _completed(run, action, placeholder)
            return ActionResult(action, "written", "; ".join([*notes, detail] if detail else notes))
        if verdict is None and acknowledged:
            _completed(run, action, True)
            run.written.add(action.slot)
            log.warning("%d/%d: %s", action.sec_tag, action.type, UNVERIFIABLE_WRITE)
            return ActionResult(action, "written", "; ".join([*notes, UNVERIFIABLE_WRITE]))
        if verdict is None:
            notes.append(
                "the OK was lost and this firmware cannot verify the content"
                + ("; rewriting once" if attempt == 1 else "")
            )
            continue
        notes.append(f"verification failed ({detail})" + ("; rewriting once" if attempt == 1 else ""))
    return ActionResult(action, "failed", "; ".join(notes))


def _completed(run: _Run, action: PlannedAction, placeholder: bool) -> None:
    """Clear the write's intent; when the firmware cannot show its digest, record it in the write ledger."""
    item = action.desired
    assert item is not None
    if placeholder:
        run.journal.complete(action.slot, predicted_sha256(item.credential.content, run.dialect), run.firmware)
    else:
        run.journal.clear(action.slot)


def _verify(run: _Run, action: PlannedAction) -> tuple[bool | None, str, bool]:
    """(True proven | False differs or missing | None digests prove nothing and unreadable, detail,
    whether the listed digest is a placeholder)."""
    item = action.desired
    assert item is not None
    tag, code = action.slot
    entries: list[StoredEntry] = run.dev.list(tag, code)
    if not entries:
        return False, "the entry is not listed", False
    digest = write_digest_ok(item, entries[0].sha256, run.dialect)
    if digest is False:
        return False, "the listed digest is not the written content's", False
    if code in READABLE_TYPES and not item.credential.secret:
        try:
            stored = run.dev.read(tag, code).content
        except NotFound:
            return False, "the entry cannot be read back", False
        if not same_credential(item.type, stored, item.credential.content):
            return False, "the content read back differs", False
        return True, "" if digest else "verified by read-back (placeholder digest)", digest is None
    if digest is None:
        return None, "presence only: the firmware prints placeholder digests", True
    return True, "", False
