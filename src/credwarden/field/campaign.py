"""Fault campaigns: prove that `apply` survives power cuts, hung writes, lost results and URC noise.

For every fault point: a fresh in-process simulator (fast) holding a pre-seeded unrelated tag, the modem
online (CFUN=1); a first apply with the fault injected at that point; a reboot on the same NVM; a second
apply. Counted per point (targets all 0):

* false success  — the first apply said ok, but the device state differs from the manifest;
* not desired    — the device is not in the desired state after the second apply;
* unrelated      — the pre-seeded unrelated tag's digest or NVM write/delete counters changed;
* CFUN changed   — CFUN differs after an apply during which the device kept answering (no reboot).

Kinds: power cuts (the modem goes silent, mid-write or at a command boundary, and reboots when the client times
out), hung writes (stored or not), lost final results, URC noise, the slower power-off, and reboots (the modem
restarts right before a command reaches it, or right after it answered: SLM prints `Ready`, the shell prints its
boot line and a fresh prompt after the silence, at_client reboots silently).

Fault points come from a clean reference run of the same apply: every command boundary and byte offsets
through every write (power cut), every write (hang, storing or not), every command (lost final result),
and seeded noise levels (URCs). `points` caps each kind by sampling evenly.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from credwarden.at.timeouts import TimeoutPolicy
from credwarden.creds.encoding import match_digest
from credwarden.errors import CredwardenError, ExitCode, UsageError
from credwarden.modem.device import Device
from credwarden.provision.apply import apply
from credwarden.provision.manifest import Manifest, load_manifest
from credwarden.provision.resolve import DesiredCredential, DeviceIdentity, resolve_manifest
from credwarden.sim import SimConfig, SimModem
from credwarden.sim.accounting import command_kind
from credwarden.transport.base import Transport
from credwarden.transport.simulated import inprocess
from credwarden.types import Dialect, as_dialect

Kind = Literal["power-cut", "hang", "lost-result", "noise", "reboot", "power-off"]
#: What the device holds before the first apply: only the unrelated tag, or an older version of every credential.
Start = Literal["empty", "stale"]
STARTS: tuple[Start, ...] = ("empty", "stale")
#: The default kinds. "power-off" (the power stays off until the reboot between the two applies, so every
#: command after the cut times out) is slower (seconds per point) and runs only when asked for.
KINDS: tuple[Kind, ...] = ("power-cut", "hang", "lost-result", "noise", "reboot")
ALL_KINDS: tuple[Kind, ...] = (*KINDS, "power-off")
#: Unrelated entries seeded before every point (sec_tag, type, content); type 4 is free text, never validated.
UNRELATED_TAG = 7_777
_UNRELATED: tuple[tuple[int, int, bytes], ...] = (
    (UNRELATED_TAG, 4, b"unrelated-identity"),
    (UNRELATED_TAG, 3, b"0011223344556677"),
)
_LENGTH = re.compile(r"<(?:redacted )?(\d+) bytes")
_NOISE_LEVELS = (0.1, 0.3, 0.6)


@dataclass(frozen=True)
class CampaignSettings:
    """What to run. `timeout` is the client's per-command timeout (short so that hangs resolve quickly)."""

    manifest: Path
    kinds: tuple[Kind, ...] = KINDS
    points: int | None = None  #: per kind; None: every enumerated point
    seed: int = 0
    profile: str = "2.0.2"
    frontend: str = "at_client"
    timeout: float = 0.25
    workers: int = 8
    starts: tuple[Start, ...] = STARTS
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FaultPoint:
    """Where to inject one fault."""

    kind: Kind
    index: int
    where: str  #: human description, e.g. "power cut after 120 of 1188 bytes of command 7 (AT%CMNG=0,42,0)"
    command: int = 0  #: 1-based command number in the apply (0: not command-bound)
    offset: int | None = None  #: power cut: content bytes stored; None: cut at the boundary after `command`
    stores: bool = False  #: hang: the hung write is stored anyway (modem-behaviour.md#field-reports, write hang)
    after: bool = False  #: reboot: right after `command` answered (False: right before it reaches the modem)
    noise: float = 0.0
    seed: int = 0
    start: Start = "empty"


@dataclass(frozen=True)
class PointResult:
    """What happened at one fault point."""

    point: FaultPoint
    first_ok: bool
    first_message: str | None
    rebooted: bool  #: the simulator was rebooted during the first apply (power came back)
    false_success: bool
    not_desired: bool
    unrelated_touched: bool
    cfun_changed: bool
    cfun_after_reboot_differs: bool
    second_message: str | None

    @property
    def violation(self) -> bool:
        return self.false_success or self.not_desired or self.unrelated_touched or self.cfun_changed

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.point.kind,
            "index": self.point.index,
            "where": self.point.where,
            "start": self.point.start,
            "first_apply_ok": self.first_ok,
            "first_apply_message": self.first_message,
            "rebooted_during_first_apply": self.rebooted,
            "false_success": self.false_success,
            "not_desired_after_second_apply": self.not_desired,
            "unrelated_touched": self.unrelated_touched,
            "cfun_changed": self.cfun_changed,
            "cfun_after_reboot_differs": self.cfun_after_reboot_differs,
            "second_apply_message": self.second_message,
        }


@dataclass(frozen=True)
class KindSummary:
    """Totals for one fault kind."""

    kind: Kind
    points: int
    first_apply_failed: int  #: informational: the fault made the first apply report failure (expected)
    false_successes: int
    not_desired: int
    unrelated_touched: int
    cfun_changed: int
    cfun_after_reboot_differs: int  #: informational

    def figures(self) -> tuple[int, ...]:
        """The counts in table order: points, 1st failed, false ok, not desired, unrelated, CFUN changed,
        CFUN after reboot (positions 0, 1 and 6 are informational, the others targets of 0)."""
        return (
            self.points,
            self.first_apply_failed,
            self.false_successes,
            self.not_desired,
            self.unrelated_touched,
            self.cfun_changed,
            self.cfun_after_reboot_differs,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "points": self.points,
            "first_apply_failed": self.first_apply_failed,
            "false_successes": self.false_successes,
            "not_desired_after_second_apply": self.not_desired,
            "unrelated_touched": self.unrelated_touched,
            "cfun_changed": self.cfun_changed,
            "cfun_after_reboot_differs": self.cfun_after_reboot_differs,
        }


@dataclass(frozen=True)
class CampaignReport:
    """Every kind's totals and the points that violated a target."""

    summaries: tuple[KindSummary, ...]
    results: tuple[PointResult, ...]
    elapsed_s: float
    profile: str
    frontend: str

    @property
    def violations(self) -> tuple[PointResult, ...]:
        return tuple(r for r in self.results if r.violation)

    @property
    def exit_code(self) -> ExitCode:
        """0 when every target is met, 6 (verification) otherwise."""
        return ExitCode.VERIFICATION if self.violations else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.violations,
            "profile": self.profile,
            "frontend": self.frontend,
            "elapsed_s": round(self.elapsed_s, 3),
            "summaries": [s.to_json() for s in self.summaries],
            "violations": [r.to_json() for r in self.violations],
            "exit_code": int(self.exit_code),
        }


# -- running ------------------------------------------------------------------------------------------------


def run_campaign(settings: CampaignSettings, *, progress: Callable[[int, int], None] | None = None) -> CampaignReport:
    """Run the campaign (in-process simulators, `workers` points at a time)."""
    started = time.monotonic()
    unknown = [k for k in settings.kinds if k not in ALL_KINDS]
    if unknown:
        raise UsageError(f"unknown fault kind {unknown[0]!r}; use one of {', '.join(ALL_KINDS)}")
    if settings.points is not None and settings.points < 1:
        raise UsageError("--points must be at least 1")
    if settings.timeout <= 0 or settings.workers < 1:
        raise UsageError("timeout must be positive and workers at least 1")
    loaded = load_manifest(settings.manifest)
    desired = resolve_manifest(loaded, DeviceIdentity(dialect=_dialect(settings.frontend)), env=settings.env)
    points = fault_points(settings, loaded, desired)
    done = 0
    lock = threading.Lock()

    def one(point: FaultPoint) -> PointResult:
        nonlocal done
        result = _run_point(settings, loaded, desired, point)
        with lock:
            done += 1
            if progress is not None:
                progress(done, len(points))
        return result

    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        results = list(pool.map(one, points))
    summaries = tuple(_summarise(kind, [r for r in results if r.point.kind == kind]) for kind in settings.kinds)
    return CampaignReport(summaries, tuple(results), time.monotonic() - started, settings.profile, settings.frontend)


def fault_points(settings: CampaignSettings, loaded: Manifest, desired: list[DesiredCredential]) -> list[FaultPoint]:
    """Every fault point of the campaign, from one clean reference run per starting state (sampled per kind)."""
    if not settings.starts or any(start not in STARTS for start in settings.starts):
        raise UsageError(f"starting states must be among {', '.join(STARTS)}")
    references = {start: _reference_run(settings, loaded, desired, start) for start in settings.starts}
    points: list[FaultPoint] = []
    for kind in settings.kinds:
        candidates = [p for start, ref in references.items() for p in _enumerate(kind, ref, settings.seed, start)]
        points.extend(_sample(candidates, settings.points))
    return [replace(p, index=i) for i, p in enumerate(points)]


def _dialect(frontend: str) -> Dialect:
    try:
        return as_dialect(frontend)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _summarise(kind: Kind, results: list[PointResult]) -> KindSummary:
    return KindSummary(
        kind,
        len(results),
        sum(1 for r in results if not r.first_ok),
        sum(1 for r in results if r.false_success),
        sum(1 for r in results if r.not_desired),
        sum(1 for r in results if r.unrelated_touched),
        sum(1 for r in results if r.cfun_changed),
        sum(1 for r in results if r.cfun_after_reboot_differs),
    )


@dataclass(frozen=True)
class _Command:
    number: int
    kind: str
    text: str
    length: int | None  #: content bytes of a write


def _new_sim(settings: CampaignSettings, seed: int, desired: list[DesiredCredential], start: Start) -> SimModem:
    sim = SimModem(
        SimConfig(
            profile=settings.profile,
            frontend=settings.frontend,  # type: ignore[arg-type]
            fast=True,
            seed=seed,
        )
    )
    seeds = [(tag, code, content) for tag, code, content in _UNRELATED]
    if start == "stale":
        seeds += [(d.sec_tag, int(d.type), _stale_content(int(d.type))) for d in desired if int(d.type) in _STALE_TYPES]
    for tag, code, content in seeds:
        answer = sim.execute(f'AT%CMNG=0,{tag},{code},"{content.decode("ascii")}"')
        if not answer.rstrip().endswith("OK"):
            raise RuntimeError(f"the simulator refused a seed entry for {tag}/{code} ({answer.strip()[-40:]})")
    sim.execute("AT+CFUN=1")
    return sim


_STALE_TYPES = (0, 1, 2, 3, 4)
_stale_lock = threading.Lock()
_stale_cache: dict[int, bytes] = {}


def _stale_content(code: int) -> bytes:
    """An older, different credential of type `code` (throwaway material generated once per process)."""
    with _stale_lock:
        if code not in _stale_cache:
            _stale_cache[code] = _make_stale(code)
        return _stale_cache[code]


def _make_stale(code: int) -> bytes:
    if code == 3:
        return b"5717A1E5717A1E5717A1E5717A1E5717"
    if code == 4:
        return b"stale-identity"
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    if code == 2:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "credwarden campaign stale certificate")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


class _Line:
    """The serial line to one simulator, shared by the sessions of a point (it outlives a modem reboot, like a
    real UART). A session's `close()` leaves it open; `shut()` closes it once, while the simulator still serves."""

    def __init__(self, sim: SimModem) -> None:
        self._transport: Transport = inprocess(sim)
        self.name = self._transport.name

    def write(self, data: bytes) -> None:
        self._transport.write(data)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        return self._transport.read(max_bytes, timeout)

    def reset_input(self) -> None:
        self._transport.reset_input()

    def settle(self, quiet: float = 0.05, limit: float = 2.0) -> None:
        """Between two runs: read until the line is quiet (the simulator answered everything it received), then
        drop what is left: the late answer to a command of an aborted run (SLM: `Ready` seen, then the rebooted
        modem still answers) would otherwise race with the next session's first command; a fresh run on a real port
        starts seconds later, on a quiet line."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and self._transport.read(4096, quiet):
            pass
        self._transport.reset_input()

    def close(self) -> None:
        """Sessions end here; the line stays open for the next one."""

    def shut(self) -> None:
        self._transport.close()


@contextmanager
def _device(line: _Line, settings: CampaignSettings) -> Iterator[Device]:
    device = Device.over(line, mode=settings.frontend, timeouts=TimeoutPolicy.uniform(settings.timeout))
    try:
        yield device
    finally:
        with suppress(CredwardenError, OSError):
            device.close()


def _reference_run(
    settings: CampaignSettings, loaded: Manifest, desired: list[DesiredCredential], start: Start = "empty"
) -> list[_Command]:
    """The command sequence of a fault-free first apply (what the fault points index into)."""
    sim = _new_sim(settings, settings.seed, desired, start)
    line = _Line(sim)
    try:
        shown: list[str] = []

        def note(event: str, data: dict[str, Any]) -> None:
            if event == "command":
                shown.append(str(data.get("command", "")))

        with _device(line, settings) as device, tempfile.TemporaryDirectory(prefix="cw-journal-") as journal:
            device.add_observer(note)
            report = apply(device, loaded, env=settings.env, journal_dir=Path(journal))
            device.remove_observer(note)
        if not report.ok:
            raise UsageError(f"the manifest does not apply cleanly on a fault-free simulator: {report.message}")
        commands: list[_Command] = []
        for number, text in enumerate(shown, start=1):
            kind = command_kind(text)
            found = _LENGTH.search(text) if kind == "%CMNG=0" else None
            commands.append(_Command(number, kind, text.strip()[:40], int(found.group(1)) if found else None))
        return commands
    finally:
        line.shut()
        sim.stop()


def _enumerate(kind: Kind, reference: list[_Command], seed: int, start: Start = "empty") -> list[FaultPoint]:
    points: list[FaultPoint] = []
    device = "stale device" if start == "stale" else "empty device"

    def add(**values: Any) -> None:
        values["where"] = f"{device}: {values['where']}"
        points.append(FaultPoint(kind=kind, index=len(points), start=start, **values))

    writes = [c for c in reference if c.length is not None]
    if kind == "power-cut":
        for cmd in reference:
            add(where=f"power cut after the answer to command {cmd.number} ({cmd.kind})", command=cmd.number + 1)
        for cmd in writes:
            length = cmd.length or 0
            for offset in _offsets(length):
                add(
                    where=f"power cut after {offset} of {length} bytes of command {cmd.number} ({cmd.text})",
                    command=cmd.number,
                    offset=offset,
                )
    elif kind == "power-off":
        for cmd in reference:
            add(
                where=f"power off after the answer to command {cmd.number} ({cmd.kind}) until the reboot",
                command=cmd.number + 1,
            )
        for cmd in writes:
            length = cmd.length or 0
            for offset in sorted({0, length // 2, length}):
                add(
                    where=f"power off after {offset} of {length} bytes of command {cmd.number} ({cmd.text}) "
                    "until the reboot",
                    command=cmd.number,
                    offset=offset,
                )
    elif kind == "hang":
        for cmd in writes:
            for stores in (False, True):
                state = "stored" if stores else "not stored"
                add(
                    where=f"write hangs ({state}) at command {cmd.number} ({cmd.text})",
                    command=cmd.number,
                    stores=stores,
                )
    elif kind == "reboot":
        for cmd in reference:
            add(where=f"reboot right before command {cmd.number} ({cmd.kind}) reaches the modem", command=cmd.number)
            add(
                where=f"reboot right after the answer to command {cmd.number} ({cmd.kind})",
                command=cmd.number,
                after=True,
            )
    elif kind == "lost-result":
        for cmd in reference:
            add(where=f"final result lost for command {cmd.number} ({cmd.kind})", command=cmd.number)
    else:
        for level in _NOISE_LEVELS:
            for run in range(10):
                add(where=f"URC noise p={level} seed {seed + run}", noise=level, seed=seed + run)
    return points


def _offsets(length: int) -> list[int]:
    """Byte offsets through a write: both ends, their neighbours, and evenly spaced points (~25 per write)."""
    if length <= 0:
        return [0]
    step = max(1, length // 24)
    return sorted({0, 1, length - 1, length, *range(0, length, step)} - {-1})


def _sample(points: list[FaultPoint], limit: int | None) -> list[FaultPoint]:
    if limit is None or len(points) <= limit:
        return points
    if limit == 1:
        return [points[0]]
    last = len(points) - 1
    chosen = sorted({round(i * last / (limit - 1)) for i in range(limit)})
    return [points[i] for i in chosen]


class _Injector:
    """Arms the fault at the right command through the session's observer; revives a dead modem on timeout."""

    def __init__(self, sim: SimModem, point: FaultPoint) -> None:
        self.sim = sim
        self.point = point
        self.commands = 0
        self.fired = False
        self.rebooted = False

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        point, faults = self.point, self.sim.faults
        if event == "command":
            self.commands += 1
            if self.commands != point.command or self.fired:
                return
            if point.kind in ("power-cut", "power-off"):
                self.fired = True
                if point.offset is None:
                    self.sim.ram.dead = True  # the power went away before this command arrived
                else:
                    faults.power_cut_after = point.offset
            elif point.kind == "hang":
                self.fired = True
                faults.hang_above, faults.hang_stores = 0, point.stores
            elif point.kind == "lost-result":
                self.fired = True
                faults.lose_results = 1
            elif point.kind == "reboot" and not point.after:
                self._reboot()  # the banner (if any) comes first, then the command reaches the fresh modem
        elif (
            event in ("response", "timeout")
            and point.kind == "reboot"
            and point.after
            and not self.fired
            and self.commands == point.command
        ):
            self._reboot()  # the next command finds the banner (SLM, shell) or a silently reset modem (at_client)
        elif event == "timeout" and self.fired:
            if point.kind == "power-cut" and self.sim.ram.dead:
                faults.power_cut_after = None
                self.sim.restart()  # the power comes back: the modem reboots on the same NVM
                self.rebooted = True
            elif point.kind == "hang":
                faults.hang_above = None

    def _reboot(self) -> None:
        self.fired = True
        self.sim.restart()
        self.rebooted = True


def _state_ok(sim: SimModem, desired: list[DesiredCredential]) -> bool:
    for item in desired:
        entry = sim.store.get(item.sec_tag, int(item.type))
        if entry is None or match_digest(item.credential.content, entry.sha) is None:
            return False
    return True


def _unrelated_state(sim: SimModem) -> list[tuple[str | None, int, int]]:
    state: list[tuple[str | None, int, int]] = []
    for tag, code, _ in _UNRELATED:
        entry = sim.store.get(tag, code)
        counter = sim.store.counters.get((tag, code))
        state.append(
            (entry.sha if entry else None, counter.writes if counter else 0, counter.deletes if counter else 0)
        )
    return state


def _apply_once(
    line: _Line, settings: CampaignSettings, loaded: Manifest, observer: _Injector | None, journal: Path
) -> tuple[bool, str | None]:
    try:
        with _device(line, settings) as device:
            if observer is not None:
                device.add_observer(observer)
            report = apply(device, loaded, env=settings.env, journal_dir=journal)
            return report.ok, report.message
    except CredwardenError as exc:
        return False, f"{type(exc).__name__}: {str(exc)[:160]}"


def _run_point(
    settings: CampaignSettings, loaded: Manifest, desired: list[DesiredCredential], point: FaultPoint
) -> PointResult:
    sim = _new_sim(settings, point.seed or settings.seed + point.index, desired, point.start)
    line = _Line(sim)
    scratch = tempfile.TemporaryDirectory(prefix="cw-journal-")  # the point's write journal (both applies)
    journal = Path(scratch.name)
    try:
        unrelated_before = _unrelated_state(sim)
        if point.kind == "noise":
            sim.faults.urc_probability = point.noise
            injector = None
        else:
            injector = _Injector(sim, point)
        cfun_before = sim.ram.cfun
        first_ok, first_message = _apply_once(line, settings, loaded, injector, journal)
        rebooted = injector.rebooted if injector else False
        dead = sim.ram.dead
        false_success = first_ok and not _state_ok(sim, desired)
        cfun_changed = not dead and not rebooted and sim.ram.cfun != cfun_before
        cfun_after_reboot = rebooted and not dead and sim.ram.cfun != cfun_before
        # a reboot on the same NVM, the modem online again, then a fault-free second apply
        sim.faults.clear()
        line.settle()
        sim.restart()
        sim.execute("AT+CFUN=1")
        line.settle()
        second_ok, second_message = _apply_once(line, settings, loaded, None, journal)
        not_desired = not _state_ok(sim, desired)
        cfun_changed = cfun_changed or sim.ram.cfun != 1
        unrelated_touched = _unrelated_state(sim) != unrelated_before
        return PointResult(
            point,
            first_ok,
            first_message,
            rebooted,
            false_success,
            not_desired,
            unrelated_touched,
            cfun_changed,
            cfun_after_reboot,
            second_message if not second_ok else None,
        )
    finally:
        scratch.cleanup()
        line.shut()
        sim.stop()
