"""Per-command timeouts: how long to wait for a final result (defaults overridable, spec §1.1, §3.1)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TimeoutPolicy:
    """Seconds to wait for a final result, by command kind."""

    base: float = 5.0  #: ordinary commands
    cfun_set: float = 15.0  #: `AT+CFUN=<n>` (going offline detaches from the network)
    keygen: float = 30.0  #: `%KEYGEN` (key generation on the modem is slow)
    attest: float = 15.0  #: `%ATTESTTOKEN`
    list_base: float = 10.0  #: `%CMNG=1`; long lists on slow UARTs
    per_kib: float = 1.0  #: extra per KiB sent (writes)

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

    def with_base(self, base: float | None) -> TimeoutPolicy:
        """A copy with `base` replaced (the `--timeout` option); slow kinds never drop below it."""
        if base is None:
            return self
        return TimeoutPolicy(base, self.cfun_set, self.keygen, self.attest, self.list_base, self.per_kib)
