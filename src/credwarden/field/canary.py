"""`credwarden canary`: reproduce "credentials vanish after many NVM writes" (modem-behaviour.md#field-reports).

Rewrite a scratch (sec_tag, psk-identity) entry again and again, alternating two contents so that every cycle
is a real NVM write (or delete + write), and after every cycle compare the watched tags' digests with the
baseline. Stop at the first change. The scratch content is non-secret text; nothing secret is ever handled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from credwarden.creds.encoding import sha256_hex
from credwarden.errors import CredwardenError, ExitCode, UsageError
from credwarden.models import StoredEntry
from credwarden.types import MAX_USER_SEC_TAG, CredType, slot_json

Mode = Literal["alternate", "delete-write"]
#: The scratch type: text, readable, not secret, not validated by any firmware.
SCRATCH_TYPE = CredType.PSK_IDENTITY
SCRATCH_CONTENTS = (b"credwarden-canary-A", b"credwarden-canary-B")


class CanaryDevice(Protocol):
    """What the canary needs from a device (credwarden.modem.device.Device provides it)."""

    def list(self, sec_tag: int | None = None, type: int | None = None) -> list[StoredEntry]: ...

    def write(self, sec_tag: int, type: int, content: bytes, password: str | None = None) -> None: ...

    def delete(self, sec_tag: int, type: int) -> None: ...

    def offline(self) -> AbstractContextManager[Any]: ...


@dataclass(frozen=True)
class CanaryPlan:
    """What to do: validated by `plan_canary`."""

    write_tag: int
    watch: tuple[int, ...]
    cycles: int
    interval: float = 0.0
    mode: Mode = "alternate"
    force: bool = False


@dataclass(frozen=True)
class Change:
    """One watched entry that appeared, vanished or changed digest."""

    sec_tag: int
    type: int
    kind: str  #: "appeared" | "vanished" | "changed"
    before: str | None
    after: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            **slot_json(self.sec_tag, self.type),
            "change": self.kind,
            "sha256_before": self.before,
            "sha256_after": self.after,
        }


@dataclass(frozen=True)
class CanaryResult:
    """Outcome: clean, or the first cycle where a watched entry changed."""

    write_tag: int
    watch: tuple[int, ...]
    cycles_planned: int
    cycles_done: int
    nvm_writes: int  #: NVM operations the canary performed (writes + deletes)
    baseline: tuple[StoredEntry, ...]
    changed_at_cycle: int | None
    changes: tuple[Change, ...]
    elapsed_s: float
    interrupted: bool = False
    nvm_writes_at_change: int | None = None  #: NVM operations done when the change was seen
    error: str | None = None  #: the device error that stopped the run early
    error_exit: ExitCode | None = None

    @property
    def clean(self) -> bool:
        return not self.changes

    @property
    def exit_code(self) -> ExitCode:
        """0 clean, 6 (verification) when a watched entry changed, 1 when interrupted, else the device error's."""
        if self.changes:
            return ExitCode.VERIFICATION
        if self.error_exit is not None:
            return self.error_exit
        return ExitCode.FAILURE if self.interrupted else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "write_tag": self.write_tag,
            "watch": list(self.watch),
            "cycles_planned": self.cycles_planned,
            "cycles_done": self.cycles_done,
            "nvm_writes": self.nvm_writes,
            "changed_at_cycle": self.changed_at_cycle,
            "nvm_writes_at_change": self.nvm_writes_at_change,
            "changes": [c.to_json() for c in self.changes],
            "baseline": [e.to_json() for e in self.baseline],
            "elapsed_s": round(self.elapsed_s, 3),
            "interrupted": self.interrupted,
            "error": self.error,
            "exit_code": int(self.exit_code),
        }


def parse_watch(text: str) -> tuple[int, ...]:
    """`"42,43"` -> (42, 43); UsageError for anything that is not a list of sec_tags."""
    tags: list[int] = []
    for part in text.split(","):
        item = part.strip()
        if not item:
            continue
        if not item.isdigit():
            raise UsageError(f"--watch: {item!r} is not a sec_tag (use numbers separated by commas, e.g. 42,43)")
        tags.append(int(item))
    if not tags:
        raise UsageError("--watch needs at least one sec_tag")
    return tuple(dict.fromkeys(tags))


def plan_canary(
    write_tag: int,
    watch: tuple[int, ...],
    cycles: int,
    *,
    interval: float = 0.0,
    mode: Mode = "alternate",
    force: bool = False,
) -> CanaryPlan:
    """Validate the arguments (UsageError with the reason)."""
    if not 0 <= write_tag <= MAX_USER_SEC_TAG:
        raise UsageError(f"--write-tag {write_tag} is outside the user range 0..{MAX_USER_SEC_TAG}")
    if write_tag in watch:
        raise UsageError(f"--write-tag {write_tag} is also watched: the scratch tag must not be one you watch")
    if cycles < 1:
        raise UsageError("--cycles must be at least 1")
    if interval < 0:
        raise UsageError("--interval must not be negative")
    if mode not in ("alternate", "delete-write"):
        raise UsageError(f"unknown mode {mode!r}; use alternate or delete-write")
    return CanaryPlan(write_tag, watch, cycles, interval, mode, force)


def _snapshot(device: CanaryDevice, watch: tuple[int, ...]) -> dict[tuple[int, int], str | None]:
    wanted = set(watch)
    return {(e.sec_tag, e.type): e.sha256 for e in device.list() if e.sec_tag in wanted}


def _diff(before: dict[tuple[int, int], str | None], after: dict[tuple[int, int], str | None]) -> list[Change]:
    changes: list[Change] = []
    for key in sorted(before.keys() | after.keys()):
        if key not in after:
            changes.append(Change(key[0], key[1], "vanished", before[key], None))
        elif key not in before:
            changes.append(Change(key[0], key[1], "appeared", None, after[key]))
        elif before[key] != after[key]:
            changes.append(Change(key[0], key[1], "changed", before[key], after[key]))
    return changes


def check_scratch(device: CanaryDevice, plan: CanaryPlan) -> bool:
    """Refuse a scratch tag holding other data (unless forced); True when our scratch entry already exists."""
    ours = {sha256_hex(c).upper() for c in SCRATCH_CONTENTS}
    present = device.list(sec_tag=plan.write_tag)
    foreign = [e for e in present if not (e.type == SCRATCH_TYPE and (e.sha256 or "").upper() in ours)]
    if foreign and not plan.force:
        held = ", ".join(e.type_name for e in foreign)
        raise UsageError(
            f"--write-tag {plan.write_tag} already holds other data ({held}); choose a free sec_tag or pass "
            "--force to overwrite its psk-identity (other types there are left alone)"
        )
    return any(e.type == SCRATCH_TYPE for e in present)


def run_canary(
    device: CanaryDevice,
    plan: CanaryPlan,
    *,
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    keep_scratch: bool = False,
) -> CanaryResult:
    """Run the canary; stop at the first change of a watched tag. Ctrl-C ends it with `interrupted=True`."""
    started = time.monotonic()
    existed = check_scratch(device, plan)
    baseline = _snapshot(device, plan.watch)
    baseline_entries = tuple(StoredEntry(t, ty, sha) for (t, ty), sha in sorted(baseline.items()))
    writes = 0
    done = 0
    changes: list[Change] = []
    interrupted = False
    at_change: int | None = None
    failure: CredwardenError | None = None
    with device.offline():
        try:
            for cycle in _cycles(plan.cycles):
                if plan.mode == "delete-write" and (existed or cycle > 1):
                    device.delete(plan.write_tag, SCRATCH_TYPE)
                    writes += 1
                device.write(plan.write_tag, SCRATCH_TYPE, SCRATCH_CONTENTS[cycle % 2])
                writes += 1
                done = cycle
                changes = _diff(baseline, _snapshot(device, plan.watch))
                if progress is not None:
                    progress(cycle, plan.cycles)
                if changes:
                    at_change = writes
                    break
                if plan.interval and cycle < plan.cycles:
                    sleep(plan.interval)
        except KeyboardInterrupt:
            interrupted = True
        except CredwardenError as exc:  # keep what was learnt so far (thousands of cycles may have run)
            failure = exc
        if not existed and not keep_scratch and not interrupted and failure is None:
            device.delete(plan.write_tag, SCRATCH_TYPE)
            writes += 1
    return CanaryResult(
        plan.write_tag,
        plan.watch,
        plan.cycles,
        done,
        writes,
        baseline_entries,
        done if changes else None,
        tuple(changes),
        time.monotonic() - started,
        interrupted,
        at_change,
        str(failure) if failure is not None else None,
        failure.exit_code if failure is not None else None,
    )


def _cycles(count: int) -> Iterator[int]:
    yield from range(1, count + 1)
