"""Per-command timeouts and resync timing: how long to wait for what (defaults overridable).

Background: modem-behaviour.md#at-host (no final result after E2BIG), #keygen (slow key generation).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

#: Fields that are counts, not durations (never scaled or capped).
_COUNTS = ("resync_probes", "retries")


@dataclass(frozen=True)
class TimeoutPolicy:
    """Seconds to wait for a final result by command kind, plus the timing of line recovery (drain + `AT` probes).

    Every duration can be shortened consistently with `scaled(factor)` (campaigns, tests) or capped with
    `capped(seconds)` (a factory per-device deadline); `with_base()` is the `--timeout` option.
    """

    base: float = 5.0  #: ordinary commands
    cfun_set: float = 15.0  #: `AT+CFUN=<n>` (going offline detaches from the network)
    keygen: float = 30.0  #: `%KEYGEN` (key generation on the modem is slow)
    attest: float = 15.0  #: `%ATTESTTOKEN`
    list_base: float = 10.0  #: `%CMNG=1`; long lists on slow UARTs
    per_kib: float = 1.0  #: extra per KiB sent (writes)
    resync_probes: int = 3  #: probes (`AT+CMEE?`) after a timeout before the device is declared silent
    resync_probe: float = 0.5  #: seconds to wait for the answer to each probe
    drain_quiet: float = 0.2  #: quiet time that ends a drain of stale input
    drain_max: float = 2.0  #: cap on one drain (a device that never stops talking)
    answer_quiet: float = 0.3  #: silence after an information line that means its final result was lost
    retries: int = 3  #: extra attempts of a read-only command whose answer was lost (after a resync)

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value < 0 or (spec.name in _COUNTS and not isinstance(value, int)):
                raise ValueError(f"TimeoutPolicy.{spec.name} must be a non-negative number, got {value!r}")

    def for_command(self, command: str) -> float:
        """The timeout for `command`."""
        upper = command.upper()
        if upper.startswith("AT%KEYGEN"):
            return max(self.keygen, self.base)
        if upper.startswith(("AT%ATTESTTOKEN", "AT%CLAIMTOKEN")):
            return max(self.attest, self.base)
        if upper.startswith("AT+CFUN="):
            return max(self.cfun_set, self.base)
        if upper.startswith(("AT%CMNG=1", "AT%CMNG=2")):
            return max(self.list_base, self.base)
        if upper.startswith("AT%CMNG=0"):
            return self.base + self.per_kib * len(command) / 1024
        return self.base

    @property
    def worst_resync(self) -> float:
        """Longest a failed resync can take (drain + every probe with its drain): for deadline budgets."""
        return self.drain_max + self.resync_probes * (self.resync_probe + self.drain_max)

    def with_base(self, base: float | None) -> TimeoutPolicy:
        """A copy with `base` replaced (the `--timeout` option); slow kinds never drop below it."""
        return self if base is None else replace(self, base=base)

    def scaled(self, factor: float) -> TimeoutPolicy:
        """Every duration multiplied by `factor` (probe count unchanged)."""
        if factor <= 0:
            raise ValueError(f"scale factor must be positive, got {factor!r}")
        return replace(
            self,
            **{spec.name: getattr(self, spec.name) * factor for spec in fields(self) if spec.name not in _COUNTS},
        )

    def capped(self, seconds: float) -> TimeoutPolicy:
        """Every command timeout at most `seconds` (and resync timing no longer than that either)."""
        if seconds <= 0:
            raise ValueError(f"timeout cap must be positive, got {seconds!r}")
        return replace(
            self,
            **{
                spec.name: min(getattr(self, spec.name), seconds)
                for spec in fields(self)
                if spec.name not in (*_COUNTS, "per_kib")
            },
            per_kib=min(self.per_kib, seconds / 4),
        )

    @classmethod
    def uniform(cls, seconds: float) -> TimeoutPolicy:
        """Every command kind waits `seconds` (writes `seconds / 4` more per KiB); recovery scaled to fit."""
        return cls(
            base=seconds, cfun_set=seconds, keygen=seconds, attest=seconds, list_base=seconds, per_kib=seconds / 4
        ).capped(seconds)
