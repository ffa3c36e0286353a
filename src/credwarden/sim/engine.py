"""The modem side of the simulator: executes one AT command against the NVM store and the RAM state.

Background: modem-behaviour.md#cmng, #keygen, #identity, #simulator-assumptions.

The engine sees exactly what `nrf_modem_at_cmd` would get (the command text, latin-1 so every byte survives)
and answers like the modem: information lines plus a final result code, no leading CR LF. Front-ends
(`frontends.py`) add their own framing.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from credwarden.cme import Cme
from credwarden.sim.config import FirmwareProfile, SimConfig
from credwarden.sim.factory import derived_key, factory_entries
from credwarden.sim.faults import Faults
from credwarden.sim.identity import Identity
from credwarden.sim.params import (
    Command,
    Param,
    ParamError,
    Quoted,
    int_param,
    max_params,
    parse_params,
    split_command,
    str_param,
)
from credwarden.sim.store import CredentialStore, make_entry
from credwarden.sim.tokens import (
    CERTEXPIRY_TYPES,
    cert_expiry_line,
    make_attestation_token,
    make_keygen_response,
    parse_challenge,
)
from credwarden.types import (
    MAX_SEC_TAG,
    MAX_USER_SEC_TAG,
    is_tls_decrypt_tag,
    placeholder_digest,
)

UNREADABLE_TYPES = frozenset({1, 2, 3})
WRITABLE_TYPES = frozenset({0, 1, 2, 3, 4})
CFUN_VALUES = (0, 1, 2, 4, 20, 21, 30, 31, 40, 41, 44)
ACTIVE_CFUN = frozenset({1, 2, 21})
UICC_ON_CFUN = frozenset({1, 2, 21, 41, 44})
UICC_OFF_CFUN = frozenset({0, 4, 40})
CEREG_LEVELS = 5
#: what a registered simulated board reports: tracking area, cell id, LTE-M (+CEREG), signal (+CESQ)
NETWORK_CELL = ('"002F"', '"0012BEEF"')
NETWORK_PSM_TIMERS = ('"11100000"', '"11100000"')
SIGNAL_REGISTERED = (31, 62)  #: RSRQ index 31 (-4.5 dB), RSRP index 62 (-79 dBm)
SYSTEM_MODE_DEFAULT = (1, 0, 0, 0)  #: LTE-M on, NB-IoT off, GNSS off, no preference
POFWARN_VOLTAGES = frozenset({30, 31, 32, 33})
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


class CmeError(Exception):
    """A `+CME ERROR: <code>` answer (plain `ERROR` when CMEE is 0)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class PlainError(Exception):
    """A bare `ERROR` answer whatever CMEE says (unknown command, unsupported form)."""


@dataclass
class Reply:
    """What the modem answers to one command."""

    lines: list[str] = field(default_factory=list)  #: information lines without CR LF
    final: str | None = "OK"  #: final result code; None = never sent (hang, lost result)
    nvm_write: bool = False
    delay: float = 0.0  #: simulated processing time in seconds
    silent: bool = False  #: the modem is dead (power cut): nothing at all is sent
    lost: bool = False  #: the final result was dropped by a fault
    urc_before: str | None = None  #: unsolicited line sent before the answer
    urc_before_final: str | None = None  #: unsolicited line sent between the info lines and the final result

    def modem_text(self) -> str:
        """The answer as `nrf_modem_at_cmd` delivers it: `<info>\\r\\n...<final>\\r\\n`."""
        body = "".join(line + "\r\n" for line in self.lines)
        return body + (self.final + "\r\n" if self.final is not None else "")


_Handler = Callable[[Command], Reply]


@dataclass
class RamState:
    """What a reboot resets."""

    cfun: int
    cmee: int = 0
    echo: bool = False
    uicc: bool = False  #: SIM card powered (CFUN 1, 2, 21, 41, 44; off with 0, 4, 40)
    cereg: int = 0  #: `AT+CEREG=<n>` presentation level
    pofwarn_latched: bool = False
    dead: bool = False  #: silent after a power cut


def is_certificate_content(content: bytes, *, reject_crlf: bool) -> bool:
    """2.0.2+ validation of types 0/1: one or more PEM certificates that parse, nothing else but whitespace."""
    if reject_crlf and b"\r" in content:
        return False
    blocks = list(_PEM_BLOCK.finditer(content))
    if not blocks:
        return False
    leftover = _PEM_BLOCK.sub(b"", content)
    if leftover.strip(b" \t\r\n"):
        return False
    for block in blocks:
        if block.group(1) != b"CERTIFICATE":
            return False
        try:
            x509.load_pem_x509_certificate(block.group(0))
        except ValueError:
            return False
    return True


class ModemEngine:
    """The modem: NVM store, RAM state, firmware profile, faults. Thread-safe (one command at a time)."""

    def __init__(
        self, config: SimConfig, identity: Identity, store: CredentialStore, faults: Faults, rng: random.Random
    ) -> None:
        self.config = config
        self.identity = identity
        self.profile: FirmwareProfile = config.firmware_profile()
        self.store = store
        self.faults = faults
        self.rng = rng
        self.lock = threading.RLock()
        self.ram = self._boot_ram()
        self.system_mode = SYSTEM_MODE_DEFAULT  #: `%XSYSTEMMODE`, kept across reboots (not in the state file)
        self.identity_key = derived_key("identity", identity.device_uuid)
        if self.profile.factory_entries:
            with store.lock:
                entries = factory_entries(identity.device_uuid)
                missing = [e for e in entries if (e.sec_tag, e.type) not in store.entries]
                for entry in missing:
                    store.put(entry, count=False)

    def _boot_ram(self) -> RamState:
        return RamState(cfun=self.config.boot_cfun, uicc=self.config.boot_cfun in UICC_ON_CFUN)

    def reboot(self) -> None:
        """Reset RAM state (CFUN, CMEE, echo, latched warning, silence); the store stays."""
        with self.lock:
            self.ram = self._boot_ram()

    # ------------------------------------------------------------------ dispatch
    def execute(self, line: str) -> Reply:
        """Run one command line (latin-1 text, terminator stripped or not) and return the modem's reply."""
        with self.lock:
            if self.ram.dead:
                return Reply(final=None, silent=True)
            self._latch_injected_pofwarn()
            reply = self._dispatch(line)
            if reply.silent:
                return reply
            timing = self.config.timing
            reply.delay += 0.0 if self.config.fast else timing.command
            if self.config.fast:
                reply.delay = 0.0
            self._apply_result_faults(reply)
            return reply

    def _latch_injected_pofwarn(self) -> None:
        if self.faults.pofwarn:
            self.faults.pofwarn = False
            if self.profile.pofwarn:
                self.ram.pofwarn_latched = True
                if self.ram.cfun in ACTIVE_CFUN:
                    self.ram.cfun = 4  # offline on a power-off warning (modem-behaviour.md#power-off-warning)

    def _apply_result_faults(self, reply: Reply) -> None:
        faults = self.faults
        if faults.urc_probability > 0 and faults.urcs:
            if self.rng.random() < faults.urc_probability:
                reply.urc_before = self.rng.choice(faults.urcs)
            if reply.final is not None and self.rng.random() < faults.urc_probability:
                reply.urc_before_final = self.rng.choice(faults.urcs)
        if reply.final is None:
            return
        lose = False
        if faults.lose_results > 0:
            faults.lose_results -= 1
            lose = True
        elif faults.lose_probability > 0 and self.rng.random() < faults.lose_probability:
            lose = True
        if lose:
            reply.final, reply.lost = None, True

    def _dispatch(self, line: str) -> Reply:
        command = split_command(line)
        if command is None:
            return Reply(final="ERROR")
        handler = self._handlers().get(command.name)
        try:
            if handler is None:
                raise PlainError
            return handler(command)
        except CmeError as exc:
            return Reply(final=self._cme(exc.code))
        except ParamError:
            return Reply(final=self._cme(Cme.INCORRECT_PARAMETERS))
        except PlainError:
            return Reply(final="ERROR")

    def _cme(self, code: int) -> str:
        return f"+CME ERROR: {int(code)}" if self.ram.cmee else "ERROR"

    def _handlers(self) -> dict[str, _Handler]:
        handlers: dict[str, _Handler] = {
            "": self._at,
            "E0": self._echo,
            "E1": self._echo,
            "E": self._echo,
            "+CMEE": self._cmee,
            "+CFUN": self._cfun,
            "+CGSN": self._cgsn,
            "+CGMR": self._cgmr,
            "+CGMM": self._cgmm,
            "+CGMI": self._cgmi,
            "+CIMI": self._cimi,
            "+CEREG": self._cereg,
            "+CESQ": self._cesq,
            "%XICCID": self._xiccid,
            "%XSYSTEMMODE": self._xsystemmode,
            "%SHORTSWVER": self._shortswver,
            "%XMODEMUUID": self._xmodemuuid,
            "%CMNG": self._cmng,
        }
        if self.profile.pofwarn:
            handlers["%XPOFWARN"] = self._xpofwarn
        if self.profile.keygen:
            handlers["%KEYGEN"] = self._keygen
            handlers["%ATTESTTOKEN"] = self._attesttoken
            handlers["%CERTEXPIRY"] = self._certexpiry
        if self.profile.device_uuid_command:
            handlers["%DEVICEUUID"] = self._deviceuuid
        return handlers

    # ------------------------------------------------------------------ basic commands
    @staticmethod
    def _params(command: Command) -> list[Param]:
        if command.form != "set":
            raise PlainError
        return parse_params(command.raw_params)

    def _at(self, command: Command) -> Reply:
        return Reply()

    def _echo(self, command: Command) -> Reply:
        if command.form != "action":
            raise PlainError
        self.ram.echo = command.name == "E1"
        return Reply()

    def _cmee(self, command: Command) -> Reply:
        top = 2 if self.profile.cmee2 else 1
        if command.form == "read":
            return Reply([f"+CMEE: {self.ram.cmee}"])
        if command.form == "test":
            return Reply([f"+CMEE: (0-{top})"])
        params = self._params(command)
        max_params(params, 1)
        value = params[0] if params else None
        if not isinstance(value, int) or value > top:
            raise PlainError
        self.ram.cmee = value
        return Reply()

    def _cfun(self, command: Command) -> Reply:
        if command.form == "read":
            return Reply([f"+CFUN: {self.ram.cfun}"])
        if command.form == "test":
            return Reply(["+CFUN: (" + ",".join(str(v) for v in CFUN_VALUES) + ")"])
        params = self._params(command)
        max_params(params, 1)
        value = int_param(params, 0, low=0, high=255)
        if value not in CFUN_VALUES:
            raise CmeError(Cme.INCORRECT_PARAMETERS)
        before = self.ram.cfun in ACTIVE_CFUN
        if value in (20, 21):
            self.ram.cfun = 4 if value == 20 else 1
        elif value in (0, 1, 2, 4, 44):
            self.ram.cfun = value
        if value in UICC_ON_CFUN:
            self.ram.uicc = True
        elif value in UICC_OFF_CFUN:
            self.ram.uicc = False
        after = self.ram.cfun in ACTIVE_CFUN
        timing = self.config.timing
        delay = timing.cfun_online if (after and not before) else timing.cfun_offline if (before and not after) else 0.0
        return Reply(delay=delay)

    def _cgsn(self, command: Command) -> Reply:
        imei = self.identity.imei
        if command.form == "action":
            return Reply([imei])
        if command.form == "test":
            return Reply(["+CGSN: (0-3)"])
        if command.form == "read":
            raise PlainError
        params = parse_params(command.raw_params)
        max_params(params, 1)
        kind = int_param(params, 0, low=0, high=3, default=0)
        if kind == 0:
            return Reply([imei])
        if kind == 1:
            return Reply([f'+CGSN: "{imei}"'])
        if kind == 2:
            return Reply([f'+CGSN: "{imei[:14]}{self._svn()}"'])
        return Reply([f'+CGSN: "{self._svn()}"'])

    def _svn(self) -> str:
        return f"{self.profile.version[1]:02d}"

    def _simple(self, command: Command, text: str) -> Reply:
        if command.form != "action":
            raise PlainError
        return Reply([text])

    def _cgmr(self, command: Command) -> Reply:
        return self._simple(command, self.profile.firmware)

    def _cgmm(self, command: Command) -> Reply:
        return self._simple(command, self.profile.model)

    def _cgmi(self, command: Command) -> Reply:
        return self._simple(command, "Nordic Semiconductor ASA")

    # ------------------------------------------------------------------ SIM card and network (plausible answers)
    def _registered(self) -> bool:
        return self.ram.cfun == 1 and self.ram.uicc

    def _sim_value(self, command: Command, text: str) -> Reply:
        if command.form != "action":
            raise PlainError
        if not self.ram.uicc:
            raise PlainError  # the SIM card is powered off (CFUN 0/4): "ERROR is returned if ... not available"
        return Reply([text])

    def _cimi(self, command: Command) -> Reply:
        return self._sim_value(command, self.identity.imsi)

    def _xiccid(self, command: Command) -> Reply:
        return self._sim_value(command, f"%XICCID: {self.identity.iccid.ljust(20, 'F')}")

    def _cereg(self, command: Command) -> Reply:
        if command.form == "test":
            return Reply([f"+CEREG: (0-{CEREG_LEVELS})"])
        if command.form == "read":
            level = self.ram.cereg
            fields = [str(level), "1" if self._registered() else "0"]
            if level >= 2 and self._registered():
                fields += [*NETWORK_CELL, "7" if self.system_mode[0] else "9"]
                if level >= 4:
                    fields += ["", "", *NETWORK_PSM_TIMERS]
            return Reply(["+CEREG: " + ",".join(fields)])
        params = self._params(command)
        max_params(params, 1)
        self.ram.cereg = int_param(params, 0, low=0, high=CEREG_LEVELS)
        return Reply()

    def _cesq(self, command: Command) -> Reply:
        if command.form == "test":
            return Reply(["+CESQ: (99),(99),(255),(255),(0-34,255),(0-97,255)"])
        if command.form != "action":
            raise PlainError
        rsrq, rsrp = SIGNAL_REGISTERED if self._registered() else (255, 255)
        return Reply([f"+CESQ: 99,99,255,255,{rsrq},{rsrp}"])

    def _xsystemmode(self, command: Command) -> Reply:
        if command.form == "read":
            return Reply(["%XSYSTEMMODE: " + ",".join(str(v) for v in self.system_mode)])
        if command.form == "test":
            return Reply(["%XSYSTEMMODE: (0,1),(0,1),(0,1),(0-4)"])
        params = self._params(command)
        max_params(params, 4)
        mode = tuple(int_param(params, i, low=0, high=1 if i < 3 else 4) for i in range(4))
        if not (mode[0] or mode[1] or mode[2]):
            raise CmeError(Cme.INCORRECT_PARAMETERS)
        if self._online():
            raise CmeError(Cme.ACTIVE_STATE)
        self.system_mode = (mode[0], mode[1], mode[2], mode[3])
        return Reply()

    def _shortswver(self, command: Command) -> Reply:
        return self._simple(command, f"%SHORTSWVER: {self.profile.chip}_{self.profile.name}")

    def _xmodemuuid(self, command: Command) -> Reply:
        return self._simple(command, f"%XMODEMUUID: {self.profile.build_uuid}")

    def _deviceuuid(self, command: Command) -> Reply:
        return self._simple(command, f"%DEVICEUUID: {self.identity.device_uuid}")

    def _xpofwarn(self, command: Command) -> Reply:
        if command.form == "test":
            return Reply(["%XPOFWARN: (0,1),(30,31,32,33)"])
        params = self._params(command)
        max_params(params, 2)
        state = int_param(params, 0, low=0, high=1)
        if state == 1:
            voltage = int_param(params, 1, low=0, high=255)
            if voltage not in POFWARN_VOLTAGES:
                raise CmeError(Cme.INCORRECT_PARAMETERS)
            self.ram.pofwarn_latched = False  # re-arming is what clears a latched warning
        elif len(params) > 1:
            raise ParamError("no voltage when disabling")
        return Reply()

    # ------------------------------------------------------------------ %CMNG
    def _online(self) -> bool:
        return self.ram.cfun in ACTIVE_CFUN

    def _nvm_guards(self) -> None:
        if self._online():
            raise CmeError(Cme.ACTIVE_STATE)
        if self.ram.pofwarn_latched:
            raise CmeError(Cme.POWER_OFF_WARNING)

    def _digest(self, type_code: int, sha: str) -> str:
        return sha if self.profile.real_digests else placeholder_digest(type_code)

    def _cmng(self, command: Command) -> Reply:
        params = self._params(command)
        opcode = int_param(params, 0, low=0, high=3)
        tag_limit = MAX_SEC_TAG
        if opcode == 1:
            max_params(params, 3)
            tag = int_param(params, 1, low=0, high=tag_limit, default=-1) if len(params) > 1 else -1
            type_code = int_param(params, 2, low=0, high=255, default=-1) if len(params) > 2 else -1
            if type_code >= 0 and tag < 0:
                raise ParamError("type filter without a sec_tag")
            lines = [
                f'%CMNG: {e.sec_tag},{e.type},"{self._digest(e.type, e.sha)}"'
                for e in self.store.ordered()
                if (tag < 0 or e.sec_tag == tag) and (type_code < 0 or e.type == type_code)
            ]
            return Reply(lines)
        tag = int_param(params, 1, low=0, high=tag_limit)
        type_code = int_param(params, 2, low=0, high=255)
        if opcode == 2:
            return self._cmng_read(params, tag, type_code)
        if opcode == 3:
            return self._cmng_delete(params, tag, type_code)
        return self._cmng_write(params, tag, type_code)

    def _cmng_read(self, params: list[Param], tag: int, type_code: int) -> Reply:
        max_params(params, 3)
        if self.ram.pofwarn_latched and self.config.pofwarn_blocks_read:
            raise CmeError(Cme.POWER_OFF_WARNING)
        entry = self.store.get(tag, type_code)
        if entry is None:
            raise CmeError(Cme.NOT_FOUND)
        if type_code in UNREADABLE_TYPES or not entry.readable or entry.content is None:
            raise CmeError(Cme.NO_ACCESS)
        content = entry.content.decode("latin-1")
        return Reply([f'%CMNG: {tag},{type_code},"{self._digest(type_code, entry.sha)}","{content}"'])

    def _cmng_delete(self, params: list[Param], tag: int, type_code: int) -> Reply:
        max_params(params, 3)
        self._nvm_guards()
        entry = self.store.get(tag, type_code)
        if entry is None:
            raise CmeError(Cme.NOT_FOUND)
        if entry.origin == "factory":
            raise CmeError(Cme.NO_ACCESS)
        self.store.remove(tag, type_code)
        self._after_nvm_write(tag)
        return Reply(nvm_write=True, delay=self.config.timing.nvm_write_base)

    def _tag_writable(self, tag: int) -> bool:
        if tag <= MAX_USER_SEC_TAG:
            return True
        return self.profile.tls_decrypt_tags and is_tls_decrypt_tag(tag)

    def _cmng_write(self, params: list[Param], tag: int, type_code: int) -> Reply:
        max_params(params, 5)
        text = str_param(params, 3, mandatory=True)
        password = str_param(params, 4)
        if not text:
            raise ParamError("empty content")
        if password is not None and len(password) > 32:
            raise ParamError("password longer than 32 characters")
        if type_code not in WRITABLE_TYPES:
            raise CmeError(Cme.INCORRECT_PARAMETERS)
        self._nvm_guards()
        if not self._tag_writable(tag):
            raise CmeError(Cme.NO_ACCESS)
        content = text.encode("latin-1")
        existing = self.store.get(tag, type_code)
        if existing is not None:
            if existing.origin == "factory":
                raise CmeError(Cme.NO_ACCESS)
            if (existing.origin == "keygen" and self.config.protect_generated) or not self.config.allow_overwrite:
                raise CmeError(Cme.ALREADY_EXISTS)
        if (
            self.profile.validates_certificates
            and type_code in (0, 1)
            and not is_certificate_content(content, reject_crlf=self.config.reject_crlf_certificates)
        ):
            raise CmeError(Cme.INVALID_CONTENT)
        entries, used = self.store.user_usage(excluding=(tag, type_code))
        if entries + 1 > self.config.max_entries or used + len(content) > self.config.max_total_bytes:
            raise CmeError(Cme.MEMORY_FULL)
        delay = self.config.timing.nvm_write_base + self.config.timing.nvm_write_per_kib * len(content) / 1024
        faults = self.faults
        if faults.power_cut_after is not None:
            cut = faults.power_cut_after
            faults.power_cut_after = None
            self.store.put(make_entry(tag, type_code, content[:cut]))
            self.ram.dead = True
            return Reply(final=None, silent=True, nvm_write=True)
        if faults.hang_above is not None and len(content) > faults.hang_above:
            if faults.hang_stores:
                self.store.put(make_entry(tag, type_code, content))
                self._after_nvm_write(tag)
            return Reply(final=None, nvm_write=faults.hang_stores, delay=delay)
        self.store.put(make_entry(tag, type_code, content))
        self._after_nvm_write(tag)
        return Reply(nvm_write=True, delay=delay)

    def _after_nvm_write(self, tag: int) -> None:
        faults = self.faults
        if faults.wipe_tag is None or tag == faults.wipe_tag:
            return
        faults.wipe_progress += 1
        if faults.wipe_progress >= faults.wipe_after:
            victim = faults.wipe_tag
            faults.wipe_tag, faults.wipe_progress = None, 0
            for entry in [e for e in self.store.ordered() if e.sec_tag == victim]:
                self.store.remove(entry.sec_tag, entry.type, count=False)

    # ------------------------------------------------------------------ %KEYGEN, %ATTESTTOKEN, %CERTEXPIRY
    def _keygen(self, command: Command) -> Reply:
        params = self._params(command)
        max_params(params, 5)
        tag = int_param(params, 0, low=0, high=MAX_SEC_TAG)
        key_type = int_param(params, 1, low=0, high=255)
        response_content = int_param(params, 2, low=0, high=1, default=0)
        attributes = str_param(params, 3)
        if len(params) > 4 and params[4] is not None and not isinstance(params[4], Quoted | int):
            raise ParamError("key usage")
        if key_type not in (2, 8):
            raise CmeError(Cme.INCORRECT_PARAMETERS)
        self._nvm_guards()
        if not self._tag_writable(tag):
            raise CmeError(Cme.NO_ACCESS)
        existing = self.store.get(tag, key_type)
        if existing is not None and (existing.origin == "factory" or not self.config.keygen_overwrite):
            raise CmeError(Cme.ALREADY_EXISTS)
        entries, _ = self.store.user_usage(excluding=(tag, key_type))
        if entries + 1 > self.config.max_entries:
            raise CmeError(Cme.MEMORY_FULL)
        key = ec.generate_private_key(ec.SECP256R1())
        try:
            text = make_keygen_response(
                key,
                sec_tag=tag,
                device_uuid=uuid.UUID(self.identity.device_uuid),
                identity_key=self.identity_key,
                attributes=attributes,
                null_param_defect=self.config.keygen_null_param_defect,
                response_content=response_content,
                nonce=self.rng.randbytes(16),
            )
        except ValueError:
            raise CmeError(Cme.INCORRECT_PARAMETERS) from None
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.store.put(make_entry(tag, key_type, pem, origin="keygen", readable=False))
        self._after_nvm_write(tag)
        return Reply([f'%KEYGEN: "{text}"'], nvm_write=True, delay=self.config.timing.keygen)

    def _attesttoken(self, command: Command) -> Reply:
        nonce: bytes | None = None
        if command.form == "set":
            params = parse_params(command.raw_params)
            max_params(params, 1)
            challenge = str_param(params, 0, mandatory=True)
            try:
                nonce = parse_challenge(challenge or "")
            except ValueError:
                raise ParamError("challenge") from None
        elif command.form != "action":
            raise PlainError
        token = make_attestation_token(
            device_uuid=uuid.UUID(self.identity.device_uuid),
            device_type=self.profile.device_type,
            firmware_uuid=uuid.UUID(self.profile.build_uuid),
            identity_key=self.identity_key,
            nonce=nonce if nonce is not None else self.rng.randbytes(16),
        )
        return Reply([f'%ATTESTTOKEN: "{token}"'], delay=self.config.timing.attest)

    def _certexpiry(self, command: Command) -> Reply:
        params = self._params(command)
        max_params(params, 2)
        tag = int_param(params, 0, low=0, high=MAX_SEC_TAG)
        type_code = int_param(params, 1, low=0, high=255)
        if type_code not in CERTEXPIRY_TYPES:
            raise CmeError(Cme.INCORRECT_PARAMETERS)
        entry = self.store.get(tag, type_code)
        if entry is None:
            raise CmeError(Cme.NOT_FOUND)
        try:
            return Reply([cert_expiry_line(entry.content or b"")])
        except ValueError:
            raise CmeError(Cme.INVALID_CONTENT) from None
