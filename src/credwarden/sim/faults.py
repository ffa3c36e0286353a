"""Fault injection for the simulated modem (modem-behaviour.md#field-reports); random decisions use the seeded RNG."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_URCS: tuple[str, ...] = (
    '+CEREG: 1,"002F","0012BEEF",7',
    "%CESQ: 54,2,17,2",
    "+CSCON: 1",
    "+CSCON: 0",
)


@dataclass
class Faults:
    """Armed faults. Change the attributes directly (`sim.faults.power_cut_after = 100`) or via `SimModem.faults`.

    Faults are harness settings, not device state: a restart keeps them armed, but what they latched in
    the modem (power-off warning, silence after a power cut) is cleared by the reboot.
    """

    #: the next `%CMNG=0` stores only its first N content bytes, then the modem goes silent until restart
    power_cut_after: int | None = None
    #: `%CMNG=0` with content longer than this never answers (write hang)
    hang_above: int | None = None
    #: a hanging write still stores the content (write hang: "a write that never returned OK can still be listed")
    hang_stores: bool = False
    #: sec_tag whose entries vanish silently after `wipe_after` NVM writes to other tags (vanishing credentials)
    wipe_tag: int | None = None
    wipe_after: int = 0
    #: the next N commands execute but their final result code is never sent
    lose_results: int = 0
    #: probability that any command's final result code is lost
    lose_probability: float = 0.0
    #: probability of an unsolicited line between commands and before final results
    urc_probability: float = 0.0
    urcs: tuple[str, ...] = DEFAULT_URCS
    #: latch the power-off warning now (CME 528 until `AT%XPOFWARN=1,<v>` or a restart)
    pofwarn: bool = False
    # progress of the wipe counter (writes to other tags since the fault was armed)
    wipe_progress: int = field(default=0, repr=False)

    def clear(self) -> None:
        """Disarm everything."""
        fresh = Faults()
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))

    def validate(self) -> None:
        """ValueError with a clear reason for impossible settings."""
        for name in ("power_cut_after", "hang_above", "wipe_tag"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")
        if self.wipe_after < 0 or self.lose_results < 0:
            raise ValueError("counts must not be negative")
        for name in ("lose_probability", "urc_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
