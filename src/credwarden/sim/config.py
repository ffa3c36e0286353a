"""Configuration of the simulated modem: firmware profiles, identity overrides, front-end, limits and timing.

Background: modem-behaviour.md#firmware-generations and #simulator-assumptions.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from credwarden.sim.identity import canonical_uuid, is_valid_imei
from credwarden.sim.identity import luhn_check_digit as luhn_check_digit  # re-exported for scripts and tests
from credwarden.types import DIALECTS, Dialect

Frontend = Dialect
Termination = Literal["cr", "lf", "crlf", "null"]
FRONTENDS: tuple[str, ...] = DIALECTS
TERMINATIONS: tuple[str, ...] = ("cr", "lf", "crlf", "null")

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class FirmwareProfile:
    """What a modem firmware generation does differently (modem-behaviour.md#firmware-generations)."""

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
    device_type: int  #: attestation-token device type (modem-behaviour.md#attesttoken)
    build_uuid: str  #: `AT%XMODEMUUID` / attestation firmware UUID: one per firmware build, shared by every board

    @property
    def name(self) -> str:
        """`1.3.5` style version string."""
        return ".".join(str(part) for part in self.version)


def firmware_build_uuid(firmware: str) -> str:
    """The build UUID of a firmware string: derived from it, so the same firmware always has the same UUID."""
    digest = hashlib.sha256(f"credwarden-sim:modem-build:{firmware}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def profile_for(
    version: str, *, model: str | None = None, firmware: str | None = None, build_uuid: str | None = None
) -> FirmwareProfile:
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
    firmware = firmware or f"mfw_{chip}_{major}.{minor}.{patch}"
    return FirmwareProfile(
        version=number,
        firmware=firmware,
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
        build_uuid=canonical_uuid(build_uuid, "build UUID") if build_uuid else firmware_build_uuid(firmware),
    )


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


@dataclass(frozen=True)
class LatencyOption:
    """One latency option in milliseconds: the `Timing` fields it sets and what it means."""

    fields: tuple[str, ...]
    meaning: str

    def help(self) -> str:
        """`meaning (default N ms)` from the realistic `Timing()` defaults."""
        defaults = " / ".join(f"{getattr(Timing(), name) * 1000:g} ms" for name in self.fields)
        return f"{self.meaning} (default {defaults})."


#: THE list of latency options (`credwarden sim --nvm-write-ms`, `sim://?nvm_write_ms=`, `SimConfig.from_options`)
TIMING_OPTIONS: dict[str, LatencyOption] = {
    "turnaround_ms": LatencyOption(("command",), "Latency of every command"),
    "nvm_write_ms": LatencyOption(("nvm_write_base",), "NVM write/delete base latency"),
    "nvm_per_kib_ms": LatencyOption(("nvm_write_per_kib",), "... plus this per KiB written"),
    "cfun_ms": LatencyOption(("cfun_online", "cfun_offline"), "CFUN online / offline transition"),
    "keygen_ms": LatencyOption(("keygen",), "%KEYGEN latency"),
    "attest_ms": LatencyOption(("attest",), "%ATTESTTOKEN latency"),
}
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def timing_from_ms(values: Mapping[str, float | None], base: Timing | None = None) -> Timing:
    """`base` (default: the realistic `Timing()`) with the given `TIMING_OPTIONS` in milliseconds applied.

    None values are ignored; an unknown option or a value outside 0..600000 ms raises ValueError naming it.
    """
    changes: dict[str, float] = {}
    for option, value in values.items():
        latency = TIMING_OPTIONS.get(option)
        if latency is None:
            raise ValueError(f"unknown latency option {option!r}; known: {', '.join(TIMING_OPTIONS)}")
        if value is None:
            continue
        if not math.isfinite(value) or not 0 <= value <= MAX_LATENCY_S * 1000:
            raise ValueError(f"{option} must be between 0 and {MAX_LATENCY_S * 1000:g} ms, got {value:g}")
        changes.update(dict.fromkeys(latency.fields, value / 1000))
    return replace(base or Timing(), **changes)


def _milliseconds(value: object, spelled: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        raise ValueError(f"{spelled}={value!r} is not a number of milliseconds") from None


def _flag(value: object, spelled: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE_WORDS | _FALSE_WORDS:
        return text in _TRUE_WORDS
    raise ValueError(f"{spelled}={value!r} is not 0/1, true/false, yes/no or on/off")


@dataclass(frozen=True)
class SimConfig:
    """Everything a `SimModem` is built from. Immutable; use `dataclasses.replace` to derive variants.

    `SimConfig.from_options` builds one from loosely typed options (`sim://` queries, CLI values).
    """

    profile: str = "1.3.5"
    frontend: Frontend = "at_client"
    state_file: Path | None = None  #: NVM persisted as JSON (None: RAM only)
    fast: bool = False  #: no delays at all (tests)
    baud: int | None = None  #: throttle both directions to a UART at this rate (10 bits per byte)
    log_file: Path | None = None  #: JSON-lines command log
    seed: int = 0  #: RNG seed for every random decision (URCs, lost results)
    # identity (None: the state file's identity, or `DEFAULT_IDENTITY` without a state file; see sim/identity.py)
    imei: str | None = None  #: override of the board's IMEI
    device_uuid: str | None = None  #: override of the board's device UUID
    model: str | None = None  #: default from the profile (`nRF9160-SICA` / `nRF9151-LACA`)
    firmware: str | None = None  #: default `mfw_nrf9160_<v>` / `mfw_nrf91x1_<v>`
    build_uuid: str | None = None  #: default derived from the firmware string (same firmware, same build UUID)
    # modem RAM state at boot
    boot_cfun: int = 4  #: the at_client README: first `AT+CFUN?` answers 4 (modem-behaviour.md#simulator-assumptions)
    # store rules (not documented → configurable, conservative defaults; modem-behaviour.md#simulator-assumptions)
    max_entries: int = 64  #: user entries before CME 515
    max_total_bytes: int = 64 * 1024  #: user content bytes before CME 515
    protect_generated: bool = True  #: CME 519 when %CMNG=0 overwrites a keygen/factory entry
    allow_overwrite: bool = True  #: False: CME 519 for any existing (tag, type)
    keygen_overwrite: bool = False  #: False: %KEYGEN into an existing (tag, 2) → CME 519
    pofwarn_blocks_read: bool = True  #: CME 528 also for %CMNG=2 (modem-behaviour.md#power-off-warning)
    reject_crlf_certificates: bool = False  #: 2.0.2+: CRLF PEM → 527 (seen once, modem-behaviour.md#content-rules)
    #: ecdsa-with-SHA256 with a NULL parameter in the %KEYGEN CSR, like every real capture (False: the RFC 5758 form)
    keygen_null_param_defect: bool = True
    # front-ends (modem-behaviour.md#front-ends)
    termination: Termination | None = None  #: None: CR for at_client, CR+LF for slm (shell always Enter)
    at_buffer: int = 4096  #: at_client CONFIG_AT_HOST_CMD_MAX_LEN (one byte kept for the NUL)
    shell_line_buffer: int = 4096  #: shell command line buffer
    shell_response_max: int = 2700  #: CONFIG_AT_SHELL_CMD_RESPONSE_MAX_LEN
    shell_unescape_lf: bool = True  #: CONFIG_AT_SHELL_UNESCAPE_LF
    shell_color: bool = True  #: VT100 colour around the prompt
    slm_xcmng: bool = True  #: SLM native-TLS `AT#XCMNG` (gen 2, modem-behaviour.md#xcmng)
    timing: Timing = field(default_factory=Timing)

    def __post_init__(self) -> None:
        for name in ("state_file", "log_file"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        self.validate()

    def firmware_profile(self) -> FirmwareProfile:
        """The profile with the configured model / firmware overrides."""
        return profile_for(self.profile, model=self.model, firmware=self.firmware, build_uuid=self.build_uuid)

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
        if self.imei is not None and not is_valid_imei(self.imei):
            raise ValueError(f"IMEI {self.imei!r} is not 15 digits with a valid Luhn check digit")
        if self.device_uuid is not None:
            canonical_uuid(self.device_uuid)
        if self.baud is not None and self.baud <= 0:
            raise ValueError("baud must be a positive number")
        if self.boot_cfun not in (0, 1, 2, 4, 44):
            raise ValueError(f"boot CFUN {self.boot_cfun} is not one of 0, 1, 2, 4, 44")
        for label, size in (("AT buffer", self.at_buffer), ("shell line buffer", self.shell_line_buffer)):
            if size < 16:
                raise ValueError(f"{label} of {size} bytes is too small")
        return self

    @classmethod
    def from_options(
        cls,
        options: Mapping[str, object],
        *,
        fast_by_default: bool = False,
        spell: Callable[[str], str] = str,
        **fields: Any,
    ) -> SimConfig:
        """A config from loosely typed options: `fast` and the latency keys of `TIMING_OPTIONS` (milliseconds).

        Used by `sim://` URLs (strings; fast unless a latency is given) and by `credwarden sim` (numbers;
        realistic by default). None values count as not given. `fields` are passed on to `SimConfig` as they
        are. ValueError (naming each option as `spell(key)` spells it) for an unknown key, a value that is not
        a number, an out-of-range latency, or `fast` together with a latency.
        """
        unknown = [key for key in options if key != "fast" and key not in TIMING_OPTIONS]
        if unknown:
            known = ", ".join(spell(key) for key in ("fast", *TIMING_OPTIONS))
            raise ValueError(f"unknown option(s) {', '.join(spell(key) for key in unknown)}; known: {known}")
        latencies = {
            key: _milliseconds(options[key], spell(key)) for key in TIMING_OPTIONS if options.get(key) is not None
        }
        raw_fast = options.get("fast")
        fast = _flag(raw_fast, spell("fast")) if raw_fast is not None else (fast_by_default and not latencies)
        if fast and latencies:
            given = ", ".join(spell(key) for key in latencies)
            raise ValueError(f"{spell('fast')} turns every latency off; it cannot be combined with {given}")
        return cls(fast=fast, timing=timing_from_ms(latencies), **fields)
