"""Configuration of the simulated modem: firmware profiles (§2.12), identity, front-end, limits and timing (§9)."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from credwarden.types import DIALECTS, Dialect

Frontend = Dialect
Termination = Literal["cr", "lf", "crlf", "null"]
FRONTENDS: tuple[str, ...] = DIALECTS
TERMINATIONS: tuple[str, ...] = ("cr", "lf", "crlf", "null")

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class FirmwareProfile:
    """What a modem firmware generation does differently (§2.12)."""

    version: tuple[int, int, int]
    firmware: str  #: `AT+CGMR` answer
    model: str  #: `AT+CGMM` answer
    chip: str  #: `nrf9160` / `nrf91x1` (for %SHORTSWVER)
    real_digests: bool  #: SHA-256 of the stored bytes (else the type byte ×32 placeholder)
    factory_entries: bool  #: modem-owned (4294967292,11) (4294967293,10) (4294967294,6)
    pofwarn: bool  #: %XPOFWARN exists and CME 528 can happen
    keygen: bool  #: %KEYGEN / %ATTESTTOKEN / %CERTEXPIRY
    validates_certificates: bool  #: types 0/1 must be parseable PEM certificates (CME 527)
    tls_decrypt_tags: bool  #: 2147483648..2147483667 writable
    device_uuid_command: bool  #: `AT%DEVICEUUID`
    cmee2: bool  #: `AT+CMEE=2` accepted (1.x answers ERROR)
    device_type: int  #: attestation-token device type (§3.2)

    @property
    def name(self) -> str:
        """`1.3.5` style version string."""
        return ".".join(str(part) for part in self.version)


def profile_for(version: str, *, model: str | None = None, firmware: str | None = None) -> FirmwareProfile:
    """Build the profile of modem firmware `version` (`1.0.3`, `1.3.5`, `2.0.2`, or `mfw_nrf91x1_2.0.2`)."""
    match = _VERSION.search(version)
    if match is None:
        raise ValueError(f"unknown firmware profile {version!r}; use a version such as 1.0.3, 1.3.5 or 2.0.2")
    major, minor, patch = (int(part) for part in match.groups())
    if major not in (0, 1, 2):
        raise ValueError(f"unsupported firmware version {version!r}: the simulator models 0.7-1.3.x and 2.x")
    number = (major, minor, patch)
    modern = number >= (1, 3, 0)
    gen2 = major == 2
    chip = "nrf91x1" if gen2 else "nrf9160"
    return FirmwareProfile(
        version=number,
        firmware=firmware or f"mfw_{chip}_{major}.{minor}.{patch}",
        model=model or ("nRF9151-LACA" if gen2 else "nRF9160-SICA"),
        chip=chip,
        real_digests=modern,
        factory_entries=modern,
        pofwarn=number >= (1, 3, 2),
        keygen=modern,
        validates_certificates=number >= (2, 0, 2),
        tls_decrypt_tags=gen2,
        device_uuid_command=gen2,
        cmee2=gen2,
        device_type=6 if gen2 else 2,
    )


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit that completes `digits` (IMEI body of 14 digits)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_valid_imei(imei: str) -> bool:
    """15 digits with a correct Luhn check digit."""
    return len(imei) == 15 and imei.isdigit() and luhn_check_digit(imei[:14]) == imei[14]


DEFAULT_IMEI = "35265610036787" + luhn_check_digit("35265610036787")


MAX_LATENCY_S = 600.0  #: no simulated latency is longer than this (a typo guard: 10 minutes)


@dataclass(frozen=True)
class Timing:
    """Realistic latencies in seconds (all zero when `SimConfig.fast`)."""

    command: float = 0.002  #: turnaround of any command
    nvm_write_base: float = 0.030  #: an NVM write (write/delete/keygen) ...
    nvm_write_per_kib: float = 0.012  #: ... plus this per KiB of content (≈30-80 ms for 0-4 kB)
    cfun_online: float = 0.050  #: CFUN 4 → 1
    cfun_offline: float = 0.100  #: CFUN 1 → 4 / 0
    keygen: float = 1.5  #: %KEYGEN
    attest: float = 0.15  #: %ATTESTTOKEN

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= MAX_LATENCY_S:
                raise ValueError(f"timing {name}={value!r}: a latency must be between 0 and {MAX_LATENCY_S:g} s")


#: latency options in milliseconds (`credwarden sim --nvm-write-ms`, `sim://?nvm_write_ms=`) -> `Timing` fields
TIMING_OPTIONS: dict[str, tuple[str, ...]] = {
    "turnaround_ms": ("command",),
    "nvm_write_ms": ("nvm_write_base",),
    "nvm_per_kib_ms": ("nvm_write_per_kib",),
    "cfun_ms": ("cfun_online", "cfun_offline"),
    "keygen_ms": ("keygen",),
    "attest_ms": ("attest",),
}


def timing_from_ms(values: Mapping[str, float | None], base: Timing | None = None) -> Timing:
    """`base` (default: the realistic `Timing()`) with the given `TIMING_OPTIONS` in milliseconds applied.

    None values are ignored; an unknown option or a value outside 0..600000 ms raises ValueError naming it.
    """
    changes: dict[str, float] = {}
    for option, value in values.items():
        fields = TIMING_OPTIONS.get(option)
        if fields is None:
            raise ValueError(f"unknown latency option {option!r}; known: {', '.join(TIMING_OPTIONS)}")
        if value is None:
            continue
        if not math.isfinite(value) or not 0 <= value <= MAX_LATENCY_S * 1000:
            raise ValueError(f"{option} must be between 0 and {MAX_LATENCY_S * 1000:g} ms, got {value:g}")
        changes.update(dict.fromkeys(fields, value / 1000))
    return replace(base or Timing(), **changes)


@dataclass(frozen=True)
class SimConfig:
    """Everything a `SimModem` is built from. Immutable; use `dataclasses.replace` to derive variants."""

    profile: str = "1.3.5"
    frontend: Frontend = "at_client"
    state_file: Path | None = None  #: NVM persisted as JSON (None: RAM only)
    fast: bool = False  #: no delays at all (tests)
    baud: int | None = None  #: throttle both directions to a UART at this rate (10 bits per byte)
    log_file: Path | None = None  #: JSON-lines command log
    seed: int = 0  #: RNG seed for every random decision (URCs, lost results)
    # identity
    imei: str = DEFAULT_IMEI
    model: str | None = None  #: default from the profile (`nRF9160-SICA` / `nRF9151-LACA`)
    firmware: str | None = None  #: default `mfw_nrf9160_<v>` / `mfw_nrf91x1_<v>`
    device_uuid: str = "50363154-3931-44f0-8022-121b6401627d"
    build_uuid: str = "25c95751-efa4-40d4-8b4a-1dcaab81fac9"
    # modem RAM state at boot
    boot_cfun: int = 4  #: the at_client README: first `AT+CFUN?` answers 4 (§9)
    pofwarn_armed_at_boot: bool | None = None  #: None: armed on 2.x (3000 mV default), off on 1.x
    # store rules (UNKNOWN in the spec → configurable, conservative defaults)
    max_entries: int = 64  #: user entries before CME 515
    max_total_bytes: int = 64 * 1024  #: user content bytes before CME 515
    protect_generated: bool = True  #: CME 519 when %CMNG=0 overwrites a keygen/factory entry
    allow_overwrite: bool = True  #: False: CME 519 for any existing (tag, type)
    keygen_overwrite: bool = False  #: False: %KEYGEN into an existing (tag, 2) → CME 519
    pofwarn_blocks_read: bool = True  #: CME 528 also for %CMNG=2 (Nordic support reply, §2.6)
    reject_crlf_certificates: bool = False  #: 2.0.2+: CRLF PEM → 527 (seen once in the field, §2.5)
    keygen_null_param_defect: bool = False  #: emit ecdsa-with-SHA256 with a NULL parameter (§3.1, Q11)
    # front-ends (§1)
    termination: Termination | None = None  #: None: CR for at_client, CR+LF for slm (shell always Enter)
    at_buffer: int = 4096  #: at_client CONFIG_AT_HOST_CMD_MAX_LEN (one byte kept for the NUL)
    shell_line_buffer: int = 4096  #: shell command line buffer
    shell_response_max: int = 2700  #: CONFIG_AT_SHELL_CMD_RESPONSE_MAX_LEN
    shell_unescape_lf: bool = True  #: CONFIG_AT_SHELL_UNESCAPE_LF
    shell_color: bool = True  #: VT100 colour around the prompt
    slm_xcmng: bool = True  #: SLM native-TLS `AT#XCMNG` (gen 2, §5.2)
    timing: Timing = field(default_factory=Timing)

    def __post_init__(self) -> None:
        for name in ("state_file", "log_file"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        self.validate()

    def firmware_profile(self) -> FirmwareProfile:
        """The profile with the configured model / firmware overrides."""
        return profile_for(self.profile, model=self.model, firmware=self.firmware)

    def line_termination(self) -> Termination:
        """The effective termination of the front-end."""
        if self.termination is not None:
            return self.termination
        return "crlf" if self.frontend == "slm" else "cr"

    def validate(self) -> SimConfig:
        """Raise ValueError with a clear reason for an unusable configuration; return self."""
        self.firmware_profile()
        if self.frontend not in FRONTENDS:
            raise ValueError(f"unknown front-end {self.frontend!r}; use one of {', '.join(FRONTENDS)}")
        if self.termination is not None and self.termination not in TERMINATIONS:
            raise ValueError(f"unknown termination {self.termination!r}; use one of {', '.join(TERMINATIONS)}")
        if not is_valid_imei(self.imei):
            raise ValueError(f"IMEI {self.imei!r} is not 15 digits with a valid Luhn check digit")
        for label, value in (("device UUID", self.device_uuid), ("build UUID", self.build_uuid)):
            try:
                uuid.UUID(value)
            except ValueError:
                raise ValueError(f"{label} {value!r} is not a UUID") from None
        if self.baud is not None and self.baud <= 0:
            raise ValueError("baud must be a positive number")
        if self.boot_cfun not in (0, 1, 2, 4, 44):
            raise ValueError(f"boot CFUN {self.boot_cfun} is not one of 0, 1, 2, 4, 44")
        for label, size in (("AT buffer", self.at_buffer), ("shell line buffer", self.shell_line_buffer)):
            if size < 16:
                raise ValueError(f"{label} of {size} bytes is too small")
        return self

    def with_changes(self, **changes: object) -> SimConfig:
        """A copy with `changes` applied (validated)."""
        return replace(self, **changes)  # type: ignore[arg-type]
