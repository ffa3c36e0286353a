"""The per-device job of a batch: detect -> apply the manifest -> on-device keys -> record -> result row.

One `DeviceJob` is shared by all device threads: it holds what was validated once up front (the manifest, the
`[[keygen]]` tables, the CAs, the inventory) and keeps nothing per device. Everything a device answers ends up
in its `DeviceResult`; nothing raises out of `__call__` for a device's answer.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from credwarden.creds.ca import certificate_pem
from credwarden.errors import (
    CredwardenError,
    DeviceTimeout,
    ExitCode,
    ModemError,
    TransportError,
    UsageError,
    ValidationError,
    VerificationError,
)
from credwarden.factory import nrfcloud
from credwarden.factory.results import DeviceResult, Stage, Status
from credwarden.factory.runner import JobContext
from credwarden.factory.station import NrfCloudOptions, Station
from credwarden.inventory.expiry import apply_expiries
from credwarden.models import DeviceInfo
from credwarden.modem.device import Device
from credwarden.modem.dialect import detect_dialect
from credwarden.provision.apply import ActionResult, apply
from credwarden.provision.keygen import KeygenSetup, prepare_keygen
from credwarden.provision.manifest import Manifest, load_manifest
from credwarden.tomlfile import read_file
from credwarden.transport.base import Transport, open_transport
from credwarden.types import type_name

log = logging.getLogger("credwarden.factory")

#: Row error of a board stopped by Ctrl-C.
INTERRUPTED = "interrupted (Ctrl-C); the board was left in the CFUN it was found in"
#: Seconds between two byte-counter updates sent to the view.
_BYTES_UPDATE_INTERVAL = 0.2


class DeviceFailure(CredwardenError):
    """A device ended in a known bad state (the message is its row's `error`)."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class DeviceJob:
    """Provision one port (called from the runner's device threads)."""

    manifest: Manifest  #: parsed and validated once for the whole batch
    station: str
    manifest_digest: str | None = None  #: SHA-256 of the manifest file (recorded with each apply run)
    keygen: KeygenSetup | None = None  #: CAs and issued-certificate folder of the `[[keygen]]` tables
    baud: int = 115200
    mode: str = "auto"
    flow_control: bool = False
    detect_timeout: float = 5.0
    command_timeout: float | None = None  #: base per-command timeout (None: the session's defaults)
    nrfcloud_csv: Path | None = None
    nrfcloud_options: NrfCloudOptions = field(default_factory=NrfCloudOptions)
    inventory: Any = None  #: credwarden.inventory.Inventory, or None for --no-record
    read_back: bool = False  #: read readable entries back after writing them (`apply --read-back`)
    _record_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _closed: bool = field(default=False, repr=False)  #: set under `_record_lock` by close()

    @classmethod
    def from_station(
        cls, station: Station, *, mode: str = "auto", flow_control: bool = False, command_timeout: float | None = None
    ) -> DeviceJob:
        """Validate everything up front (manifest, keygen tables, CA keys, inventory) and build the job."""
        if station.manifest is None:
            raise UsageError("no manifest: give MANIFEST or `manifest = ...` in the station file")
        loaded = load_manifest(station.manifest)
        keygen = prepare_keygen(loaded, station.out_dir)
        if station.nrfcloud_csv is not None and keygen is None:
            raise UsageError(
                "--nrfcloud-csv needs [[keygen]] tables in the manifest (the CSV lists the device "
                "certificates they issue)"
            )
        inventory = None
        if station.record:
            from credwarden.inventory.store import Inventory

            inventory = Inventory.open(station.inventory)
        return cls(
            manifest=loaded,
            station=station.name,
            manifest_digest=hashlib.sha256(read_file(loaded.path, "manifest")).hexdigest(),
            keygen=keygen,
            baud=station.baud,
            mode=mode,
            flow_control=flow_control,
            detect_timeout=station.detect_timeout,
            command_timeout=command_timeout,
            nrfcloud_csv=station.nrfcloud_csv,
            nrfcloud_options=station.nrfcloud,
            inventory=inventory,
        )

    def close(self) -> None:
        """Release the inventory connection (after the batch). Waits for a record being written; a job abandoned
        by the runner (timeout, Ctrl-C) that reaches its record afterwards skips it instead of using a closed
        connection."""
        with self._record_lock:
            self._closed = True
            if self.inventory is not None:
                self.inventory.close()

    # -- one device ----------------------------------------------------------------------------------------

    def __call__(self, port: str, ctx: JobContext) -> DeviceResult:
        result = DeviceResult(port, Status.FAILED)
        started = time.monotonic()
        try:
            transport = open_transport(port, baud=self.baud, flow_control=self.flow_control)
        except CredwardenError as exc:
            result.status, result.error = Status.UNREACHABLE, str(exc)
            return result
        ctx.on_cancel(transport.close)
        dev: Device | None = None
        try:
            dev = self._connect(transport, port, ctx)
        except KeyboardInterrupt:
            result.error = INTERRUPTED
        except DeviceTimeout as exc:
            result.status, result.error = Status.NO_ANSWER, str(exc)
        except CredwardenError as exc:
            result.status, result.error = _status_for(exc), str(exc)
        finally:
            if dev is None:
                transport.close()
        if dev is None:
            result.elapsed_s = time.monotonic() - started
            return result
        try:
            self._provision(dev, ctx, result)
        finally:
            stats = dev.stats
            result.bytes_out, result.bytes_in = stats.bytes_out, stats.bytes_in
            try:
                dev.close()
            except (CredwardenError, OSError) as exc:
                log.debug("%s: closing the session: %s", port, exc)
            result.elapsed_s = time.monotonic() - started
        return result

    def _connect(self, transport: Transport, port: str, ctx: JobContext) -> Device:
        mode = self.mode
        if mode == "auto":
            mode = detect_dialect(transport, self.detect_timeout)
        dev = Device.over(transport, mode=mode, timeout=self.command_timeout, port=port)
        last = 0.0

        def on_event(event: str, _data: dict[str, Any]) -> None:
            nonlocal last
            now = time.monotonic()
            if event == "bytes" and now - last >= _BYTES_UPDATE_INTERVAL:
                last = now
                ctx.report(bytes_out=dev.stats.bytes_out, bytes_in=dev.stats.bytes_in)

        dev.add_observer(on_event)
        return dev

    def _provision(self, dev: Device, ctx: JobContext, result: DeviceResult) -> None:
        info: DeviceInfo | None = None
        session_usable = True
        entries = None
        try:
            ctx.check_interrupt()
            info = dev.info()
            result.imei, result.uuid = info.imei, info.uuid
            report = self._apply(dev, ctx, result, info)
            entries = list(report.final_entries) if report.final_entries is not None else None
        except KeyboardInterrupt as exc:  # Ctrl-C: apply restored CFUN; the run is recorded as what it was
            result.status, result.error = Status.FAILED, INTERRUPTED
            partial = getattr(exc, "report", None)
            if partial is not None:
                result.actions.extend(_apply_action(r) for r in partial.results)
        except CredwardenError as exc:
            result.status, result.error = _status_for(exc), str(exc)
            session_usable = not isinstance(exc, DeviceTimeout | TransportError)
        if ctx.cancelled.is_set() or self.inventory is None or info is None or not info.imei:
            return  # a board without IMEI cannot be filed in the inventory
        ctx.report(Stage.RECORD)
        try:
            self._record(dev, info, result, entries, list_now=session_usable, ctx=ctx)
        except CredwardenError as exc:
            log.error("%s: recording in the inventory failed: %s", result.port, exc)
            result.error = f"{result.status.value} on the device, but not recorded in the inventory: {exc}"
            result.status = Status.FAILED

    def _apply(self, dev: Device, ctx: JobContext, result: DeviceResult, info: DeviceInfo) -> Any:
        """Apply the manifest (its `[[keygen]]` tables included); fills the row; DeviceFailure when not ok."""
        ctx.report(Stage.PLAN)

        def observer(stage: str, info: Any) -> None:
            ctx.check_interrupt()  # stage boundaries are safe points: apply restores CFUN on the way out
            verb, _, detail = stage.partition(" ")
            if verb in ("write", "delete"):
                ctx.report(Stage.WRITE, detail if verb == "write" else f"{detail} (delete)")
            elif verb == "keygen":
                ctx.report(Stage.KEYGEN, f"sec_tag {info}")
            elif verb.startswith("keygen-"):
                step = verb.removeprefix("keygen-")
                stage_of = {"delete": Stage.WRITE, "write": Stage.WRITE, "verify": Stage.VERIFY}
                ctx.report(stage_of.get(step, Stage.KEYGEN), f"sec_tag {info}")
            elif verb == "verify":
                ctx.report(Stage.VERIFY, ctx.detail if ctx.stage is Stage.WRITE else "")
            elif verb == "plan":
                ctx.report(Stage.PLAN)

        report = apply(
            dev, self.manifest, observer=observer, keygen=self.keygen, identity=info, read_back=self.read_back
        )
        result.expiries.update(apply_expiries(report))
        actions = [_apply_action(r) for r in report.results]
        result.actions.extend(actions)
        if self.nrfcloud_csv is not None and report.ok:
            self._onboard(report)
        if not report.ok:
            message = report.message or "the device state differs from the manifest"
            failed = [a for a in actions if a["status"] == "failed"]
            if failed:
                message += "; " + "; ".join(f"{a['sec_tag']}/{a['type']}: {a['reason']}" for a in failed[:3])
            status = {
                ExitCode.VERIFICATION: Status.VERIFY_FAILED,
                ExitCode.MODEM_REFUSED: Status.REFUSED,
                ExitCode.VALIDATION: Status.INVALID,
            }.get(report.exit_code, Status.FAILED)
            raise DeviceFailure(status, message)
        changed = any(a["status"] in ("written", "deleted", "generated") for a in actions)
        result.status = Status.APPLIED if changed else Status.UNCHANGED
        return report

    def _onboard(self, report: Any) -> None:
        """Add each certificate a `[[keygen]]` table issued or kept to the nRF Cloud onboarding CSV."""
        assert self.nrfcloud_csv is not None
        for outcome in report.keygen:
            device_id = outcome.device_id
            if device_id is None:
                raise ValidationError(
                    f"sec_tag {outcome.sec_tag}: the certificate has no CN to use as the nRF Cloud device id",
                    source="nrfcloud",
                )
            row = nrfcloud.onboarding_row(
                device_id,
                certificate_pem(outcome.certificate).decode("ascii"),
                subtype=self.nrfcloud_options.subtype,
                tags=self.nrfcloud_options.tags,
                fw_types=self.nrfcloud_options.fw_types,
            )
            nrfcloud.add_device(self.nrfcloud_csv, row)

    def _record(
        self,
        dev: Device,
        info: DeviceInfo,
        result: DeviceResult,
        entries: list[Any] | None,
        *,
        list_now: bool,
        ctx: JobContext | None = None,
    ) -> None:
        """The apply run (every row) and a snapshot of the store as it is now (the apply's final list, or a fresh
        list when the run ended early and the session still works)."""
        if entries is None and list_now:
            try:
                entries = dev.list()
            except CredwardenError as exc:
                log.warning("%s: no snapshot recorded (list failed: %s)", result.port, exc)
        run = {
            "ok": result.ok,
            "actions": [_inventory_action(a) for a in result.actions],
            "manifest_digest": self.manifest_digest,
        }
        with self._record_lock:  # one writer at a time keeps SQLite free of lock contention
            if self._closed or (ctx is not None and ctx.cancelled.is_set()):
                log.debug("%s: not recorded (the batch gave up on this board or ended)", result.port)
                return  # the runner already reported this board's row (timeout / interrupted)
            self.inventory.record_apply(info, run, station=self.station)
            if entries is not None:
                self.inventory.record_snapshot(
                    info, entries, source="apply", station=self.station, expiries=result.expiries
                )


def _apply_action(result: ActionResult) -> dict[str, Any]:
    """An apply `ActionResult` as a row action (integer type code plus its name)."""
    data = result.to_json()
    data["type"] = int(result.action.type)
    data["type_name"] = type_name(data["type"])
    return data


def _inventory_action(action: dict[str, Any]) -> dict[str, Any]:
    return {k: action.get(k) for k in ("sec_tag", "type", "action", "status", "reason")}


def _status_for(exc: CredwardenError) -> Status:
    if isinstance(exc, DeviceFailure):
        return exc.status
    if isinstance(exc, VerificationError):
        return Status.VERIFY_FAILED
    if isinstance(exc, ModemError):
        return Status.REFUSED
    if isinstance(exc, DeviceTimeout):
        return Status.TIMEOUT
    if isinstance(exc, ValidationError | UsageError):
        return Status.INVALID
    return Status.FAILED
