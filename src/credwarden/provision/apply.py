"""Apply a manifest to one device: validate -> plan -> (offline once) write/delete what differs -> verify -> report.

Guarantees:
* nothing is sent before the whole manifest validated (placeholder manifests: after the read-only identity
  queries only);
* nothing changes on the device when nothing differs (no CFUN change, no write);
* each write is verified by one `AT%CMNG=1,tag,type`: on firmware that lists the real SHA-256 of the stored bytes
  that digest is the proof; a read-back (`AT%CMNG=2`, readable types only) is added only where the firmware lists
  placeholder digests, or on request (`read_back=True`); a mismatch is rewritten once; a lost result (timeout) is
  resolved by reading what is stored, never by a blind rewrite;
* placeholder-digest firmware (modem-behaviour.md#placeholder-digests): the `unverifiable` policy
  (fail | warn | rewrite) governs only PRE-EXISTING entries whose content cannot be compared. A write of this run
  that the modem acknowledged with OK and then lists (placeholder digest of the right type) is "written,
  unverifiable by this firmware": done, with a warning in the report (a write whose OK was lost is sent once
  more, then fails);
* every write/delete is preceded by an intent in the device's write journal (`provision.journal`) and the intent
  is cleared once acknowledged and verified; a pending intent makes the next plan rewrite that entry whatever the
  policy (unless a real digest or a read-back proves it complete), so a write cut by a power loss is repaired;
* a completed write the firmware cannot prove by digest is recorded in the journal's write ledger, so a re-apply
  of the same manifest on placeholder-digest firmware skips it ("identical per write ledger") instead of failing
  on the `unverifiable` policy; a delete, or an entry no longer listed, forgets its record;
* a reboot mid-run re-establishes the session guards and re-plans from a fresh list (at most twice; a reboot
  while planning or verifying — identify, list, read-back — plans or lists once more);
* success only when a final list proves the device state equals the manifest (one full list, carried in the
  report as `final_entries` so a caller recording the state does not list again); CFUN is left as found;
* a store too large for the shell's response buffer (E2BIG) is seen through the manifest's sec_tags listed one by
  one; the plan's `notes` (and the report's warnings) say which entries could not be seen.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from credwarden.at.info import parse_firmware_version, parse_imei
from credwarden.creds.encoding import predicted_sha256, same_credential
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
from credwarden.modem.listing import list_store
from credwarden.provision.journal import WriteJournal
from credwarden.provision.keygen import (
    KeygenOutcome,
    KeygenSetup,
    default_out_dir,
    ensure_client_certificate,
    kept_outcome,
    keygen_row,
    prepare_keygen,
)
from credwarden.provision.manifest import Manifest, effective_options, load_manifest
from credwarden.provision.plan import (
    LEDGER_SKIP,
    Plan,
    PlannedAction,
    Slot,
    make_plan,
    modem_slot,
    readback_slots,
    write_digest_ok,
)
from credwarden.provision.resolve import DesiredCredential, DeviceIdentity, resolve_manifest
from credwarden.types import READABLE_TYPES, Dialect, as_dialect

if TYPE_CHECKING:
    from credwarden.modem.device import Device

log = logging.getLogger("credwarden.provision")

ApplyObserver = Callable[[str, Any], None]
Status = Literal["unchanged", "planned", "written", "deleted", "generated", "failed", "blocked", "kept"]
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
    extra: Mapping[str, Any] = field(default_factory=dict)  #: keygen facts: sha256, serial, file

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
            **self.extra,
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
    keygen: tuple[KeygenOutcome, ...] = ()  #: what the `[[keygen]]` tables did (certificates issued or kept)
    final_entries: tuple[StoredEntry, ...] | None = None  #: the device's store as the run's last list showed it

    @property
    def warnings(self) -> tuple[str, ...]:
        return (*self.plan.notes, *(w for w in (r.warning for r in self.results) if w is not None))

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
            "interrupted": self.exit_code == ExitCode.INTERRUPTED,
        }


@dataclass
class _Run:
    dev: Device
    dialect: Dialect
    observer: ApplyObserver | None
    journal: WriteJournal
    results: dict[tuple[int, int, str], ActionResult] = field(default_factory=dict)
    refused: bool = False
    info: DeviceInfo | None = None
    firmware: str | None = None  #: firmware string, recorded with ledger entries
    written: set[Slot] = field(default_factory=set)  #: acknowledged writes the firmware cannot verify
    touched: bool = False  #: the run started changing the device
    keygen_done: dict[int, KeygenOutcome] = field(default_factory=dict)  #: sec_tag -> what its table did
    read_back: bool = False  #: read readable entries back after writing even where the digest proves them

    @property
    def keygen_outcomes(self) -> list[KeygenOutcome]:
        return list(self.keygen_done.values())

    @property
    def keygen_results(self) -> list[ActionResult]:
        return [_keygen_result(step) for outcome in self.keygen_done.values() for step in outcome.actions]

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
    try:
        return as_dialect(dev.dialect)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def device_identity(dev: Device, loaded: Manifest) -> DeviceInfo:
    """Identity for the report and placeholders, with as few commands as possible (full `info()` for {uuid})."""
    if any("{uuid}" in (t.file or "") for t in loaded.spec.credential) or any(
        "{uuid}" in t.file for t in loaded.spec.nrfcloud
    ):
        return dev.info()
    imei: str | None = None
    firmware: str | None = None
    cfun = dev.original_cfun  # first: the mode to keep is known before anything can restart the modem
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
        cfun=cfun,
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
    `plan` never changes the journal). A store whose full list does not fit the shell's buffer is listed through
    the manifest's sec_tags one by one; the plan's `notes` then say what could not be seen."""
    dialect = _dialect(dev)
    view = list_store(dev, lambda: {modem_slot(d.sec_tag, int(d.type), d.options.native_tls)[0] for d in desired})
    observed = list(view.entries)
    ledger = journal.ledger() if journal is not None else {}
    listed = {(e.sec_tag, e.type) for e in observed}
    seen_tags = None if view.complete else set(view.listed_tags)
    vanished = [slot for slot in ledger if slot not in listed and (seen_tags is None or slot[0] in seen_tags)]
    if vanished and journal is not None and tidy_ledger:
        journal.forget(*vanished)
    readback: dict[tuple[int, int], bytes] = {}
    for tag, code in readback_slots(desired, observed, dialect):
        try:
            readback[(tag, code)] = dev.read(tag, code).content
        except NotFound:
            continue
    interrupted = journal.pending() if journal is not None else {}
    result = make_plan(
        desired,
        observed,
        dialect=dialect,
        readback=readback,
        prune=prune,
        interrupted=interrupted,
        written=written or set(),
        ledger={slot: r.sha256 for slot, r in ledger.items() if slot in listed},
    )
    return result if view.unseen is None else replace(result, notes=(*result.notes, view.unseen))


def plan(
    dev: Device,
    manifest: Manifest | str | Path,
    *,
    prune: bool = False,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    journal_dir: Path | None = None,
    out_dir: Path | None = None,
    offline_checked: bool = False,
) -> Plan:
    """What `apply` would do on this device (read-only; the write journal is read, never changed).

    `[[keygen]]` tables get a row each, decided from the list and the certificates issued into `out_dir`."""
    loaded = _loaded(manifest)
    if not offline_checked:
        _prevalidate(loaded, dev, env, now)
    info = device_identity(dev, loaded)
    journal = WriteJournal.for_device(info.imei, info.uuid, journal_dir)
    result = observe_and_plan(dev, desired_for(dev, loaded, info, env=env, now=now), prune=prune, journal=journal)
    result = replace(result, device=info)
    return _with_keygen_rows(result, loaded, info, KeygenSetup(out_dir or default_out_dir(loaded), {}), now)


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
    keygen: KeygenSetup | None = None,
    identity: DeviceInfo | None = None,
    offline_checked: bool = False,
    read_back: bool = False,
) -> ApplyReport:
    """Make the device hold exactly what the manifest says (see module doc). ValidationError before any write.

    `journal_dir` overrides where the write journal lives (default: `provision.journal.default_journal_dir()`);
    `keygen`: the CAs and issued-certificate folder of the `[[keygen]]` tables (`prepare_keygen()`; loaded here when
    not given); `identity`: the device's `info()` when the caller already read it (else the run reads the IMEI and
    firmware itself); `offline_checked`: the caller already validated everything that needs no device (the CLI
    does it before opening the port), so it is not done again on the session's time; `read_back`: read every
    readable entry written back (`AT%CMNG=2`) even where its listed digest already proves it.
    Ctrl-C raises `ApplyInterrupted` carrying the partial report, after CFUN was restored."""
    loaded = _loaded(manifest)
    start_commands, start_nvm = dev.stats.commands, dev.stats.nvm_operations
    if not offline_checked:
        _prevalidate(loaded, dev, env, now)
    if loaded.spec.keygen and keygen is None:
        keygen = prepare_keygen(loaded)

    def identify_and_plan() -> tuple[DeviceInfo, list[DesiredCredential], WriteJournal, Plan]:
        info = identity if identity is not None else device_identity(dev, loaded)
        desired = desired_for(dev, loaded, info, env=env, now=now)
        journal = WriteJournal.for_device(info.imei, info.uuid, journal_dir)
        observed = observe_and_plan(dev, desired, prune=prune, journal=journal, tidy_ledger=not dry_run)
        return info, desired, journal, _with_keygen_rows(observed, loaded, info, keygen, now)

    info, desired, journal, current = after_reboots(dev, 2, "planning", identify_and_plan)
    run = _Run(dev, _dialect(dev), observer, journal, firmware=info.firmware, info=info, read_back=read_back)
    run.notify("plan", current)
    first_plan = current

    def report(ok: bool, message: str | None, code: ExitCode, shown: Plan, final: Plan | None = None) -> ApplyReport:
        if keygen is not None and not dry_run:
            _keep_unchanged_keygen(run, current, loaded, keygen)
        results = tuple(_result_for(a, run, dry_run) for a in shown.actions) + tuple(run.keygen_results)
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
            keygen=tuple(run.keygen_outcomes),
            final_entries=_whole_store(final if final is not None else None if run.touched else shown),
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
        if current.in_sync:
            return report(True, "the device already matches the manifest", ExitCode.OK, current)
        pending = len(current.changes) + sum(1 for row in current.keygen if row.decision != "skip")
        return report(
            False, f"dry run: {pending} change{'' if pending == 1 else 's'} pending", ExitCode.CHANGES_PENDING, current
        )
    if current.in_sync:
        journal.clear(*(a.slot for a in current.actions))  # pending intents found complete (proven identical)
        return report(True, "the device already matches the manifest", ExitCode.OK, current)

    def replan() -> None:
        nonlocal current
        run.notify("reboot", None)
        current = _with_keygen_rows(
            observe_and_plan(dev, desired, prune=prune, journal=journal, written=run.written, tidy_ledger=True),
            loaded,
            info,
            keygen,
            now,
        )
        run.notify("plan", current)

    try:
        after_reboots(dev, MAX_REPLANS + 1, "applying", lambda: _execute(run, current, loaded, keygen), replan)
        run.notify("verify", None)
        final = after_reboots(
            dev,
            2,
            "verifying",
            lambda: observe_and_plan(dev, desired, prune=prune, journal=journal, written=run.written, tidy_ledger=True),
        )
    except DeviceRebooted:
        return report(
            False,
            f"the device rebooted {MAX_REPLANS + 1} times during the run; stopped",
            ExitCode.TRANSPORT,
            first_plan,
        )
    except KeyboardInterrupt:
        raise ApplyInterrupted(
            report(
                False,
                "interrupted (Ctrl-C); the device was left in the CFUN it was found in",
                ExitCode.INTERRUPTED,
                first_plan,
            )
        ) from None
    leftovers = final.changes + tuple(a for a in final.blocked if a.slot not in blocked)
    for action in leftovers:
        key = (action.sec_tag, action.type, "write" if action.action == "unverifiable" else action.action)
        previous = run.results.get(key)
        if previous is None or previous.status != "failed":
            run.record(ActionResult(action, "failed", "the final list still differs"))
    if run.refused:
        return report(False, "the modem refused some changes", ExitCode.MODEM_REFUSED, first_plan, final)
    if leftovers or any(r.status == "failed" for r in run.results.values()):
        return report(
            False, "the device state differs from the manifest after the run", ExitCode.VERIFICATION, first_plan, final
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
            final,
        )
    return report(True, None, ExitCode.OK, first_plan, final)


def _whole_store(listed: Plan | None) -> tuple[StoredEntry, ...] | None:
    """The entries a plan was made from, when they are the whole store (never a tag-by-tag view)."""
    return listed.observed if listed is not None and listed.complete else None


class ApplyInterrupted(KeyboardInterrupt):
    """Ctrl-C during `apply`: the device's CFUN was restored; `report` says what was done before the interruption."""

    def __init__(self, report: ApplyReport) -> None:
        super().__init__(report.message)
        self.report = report


T = TypeVar("T")


def after_reboots(
    dev: Device, attempts: int, stage: str, step: Callable[[], T], replan: Callable[[], None] | None = None
) -> T:
    """Run `step`; when the device reboots under it, re-establish the session (CFUN as found), call `replan` and
    run it again, at most `attempts` times in all (the last DeviceRebooted propagates)."""
    for attempt in range(1, attempts + 1):
        try:
            return step()
        except DeviceRebooted as exc:
            if attempt == attempts:
                raise
            log.warning("device rebooted while %s (%s); %s again", stage, exc, stage)
            dev.reestablish()
            if replan is not None:
                replan()
    raise AssertionError("unreachable")


def _with_keygen_rows(
    result: Plan, loaded: Manifest, info: DeviceInfo, keygen: KeygenSetup | None, now: datetime | None
) -> Plan:
    """The plan with one row per `[[keygen]]` table, decided from its list and the certificates issued earlier."""
    if not loaded.spec.keygen:
        return result
    out_dir = keygen.out_dir if keygen is not None else default_out_dir(loaded)
    rows = tuple(
        keygen_row(t.resolved(loaded.base_dir), list(result.observed), info, out_dir, now) for t in loaded.spec.keygen
    )
    return replace(result, keygen=rows)


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


def _execute(run: _Run, current: Plan, loaded: Manifest, keygen: KeygenSetup | None) -> None:
    """One offline window: the credential writes/deletes, then the `[[keygen]]` tables that are not in sync."""
    changes = current.changes
    pending_keygen = [row.sec_tag for row in current.keygen if row.decision != "skip"]
    run.touched = True
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
        if pending_keygen:
            assert keygen is not None
            _run_keygen_tables(run, loaded, keygen, pending_keygen)


def _run_keygen_tables(run: _Run, loaded: Manifest, keygen: KeygenSetup, tags: list[int]) -> None:
    tables = {t.sec_tag: t.resolved(loaded.base_dir) for t in loaded.spec.keygen}
    info = run.info
    for index, tag in enumerate(tags, start=1):
        run.notify(f"keygen {index}/{len(tags)}", tag)
        run.keygen_done[tag] = ensure_client_certificate(
            run.dev,
            tables[tag],
            keygen.issuers[tag],
            imei=info.imei if info else None,
            uuid=info.uuid if info else None,
            out_dir=keygen.out_dir,
            progress=_keygen_progress(run, tag),
        )


def _keep_unchanged_keygen(run: _Run, current: Plan, loaded: Manifest, keygen: KeygenSetup) -> None:
    """Tables the plan found in sync: report them as unchanged, with the certificate issued earlier."""
    tables = {t.sec_tag: t.resolved(loaded.base_dir) for t in loaded.spec.keygen}
    for row in current.keygen:
        if row.decision == "skip" and row.sec_tag not in run.keygen_done and run.info is not None:
            kept = kept_outcome(tables[row.sec_tag], run.info, keygen.out_dir, row.reason)
            if kept is not None:
                run.keygen_done[row.sec_tag] = kept


def _keygen_progress(run: _Run, tag: int) -> Callable[[str], None]:
    return lambda step: run.notify(f"keygen-{step}", tag)


def _keygen_result(step: Mapping[str, Any]) -> ActionResult:
    """One step of the on-device key flow as an apply action (`keygen` / `write` / `delete` / `skip`)."""
    op = str(step["op"])
    status: Status = {"skip": "unchanged", "keygen": "generated", "write": "written", "delete": "deleted"}[op]  # type: ignore[assignment]
    reason = str(
        step.get("reason")
        or {
            "keygen": f"%KEYGEN, CSR subject {step.get('subject')}",
            "write": "certificate issued by the local CA, verified by digest",
        }.get(op, "")
    )
    action = PlannedAction(int(step["sec_tag"]), int(step["type"]), op, reason)  # type: ignore[arg-type]
    extra = {k: step[k] for k in ("sha256", "serial", "file") if k in step}
    return ActionResult(action, status, extra=extra)


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
    except DeviceTimeout:  # the session resynchronised the line already
        if not run.dev.session.responsive:
            raise
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
            if not run.dev.session.responsive:  # the session's resync after the timeout failed
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
    """When the firmware cannot show its digest, clear the write's intent and record it in the write ledger."""
    item = action.desired
    assert item is not None
    if placeholder:
        run.journal.complete(action.slot, predicted_sha256(item.credential.content, run.dialect), run.firmware)
    # else: the intent stays until the run's final list settles every slot (one journal change, off the per-write
    # path); meanwhile the real listed digest proves the slot to any plan, so a pending intent causes no rewrite


def _verify(run: _Run, action: PlannedAction) -> tuple[bool | None, str, bool]:
    """(True proven | False differs or missing | None digests prove nothing and unreadable, detail,
    whether the listed digest is a placeholder).

    One `AT%CMNG=1,tag,type`: a real listed digest of the written bytes is the proof. A read-back follows only
    for readable, non-secret types when the digest is a placeholder or `read_back` was asked for."""
    item = action.desired
    assert item is not None
    tag, code = action.slot
    entries: list[StoredEntry] = run.dev.list(tag, code)
    if not entries:
        return False, "the entry is not listed", False
    digest = write_digest_ok(item, entries[0].sha256, run.dialect)
    if digest is False:
        return False, "the listed digest is not the written content's", False
    readable = code in READABLE_TYPES and not item.credential.secret
    if readable and (digest is None or run.read_back):
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
