"""One AT session over one transport: send a command, collect its answer, set URCs aside, recover lost answers.

No fixed sleeps: every wait is a read with a deadline. Every received line goes through one classifier
(`classify`), whichever reader asked. A lost final result is noticed early when the answer had an information line
and the line then went quiet (`TimeoutPolicy.answer_quiet`), else at the command's timeout; the line is then
resynchronised with the tagged probe (`AT+CMEE?`, whose answer carries a `+CMEE:` line, so a late bare `OK` of the
lost command cannot be taken for it) and a read-only command is sent again (at most `TimeoutPolicy.retries` times,
counted in `stats.retries`). Commands that change something are never repeated blindly: the caller reads the state
first. Numeric errors (`AT+CMEE=1`) are turned on when first needed: before the first command that changes
something, or when a read-only command answered a bare `ERROR`.

After a reboot the device may still answer the interrupted command: before the next command the session drains
until the line is quiet, then sends the tagged probe. Wire traffic is logged at DEBUG on `credwarden.wire` through
the stream redactor, so secrets never reach the log even when a command is split across reads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from credwarden.at.info import parse_int_value
from credwarden.at.response import (
    AtResponse,
    FinalKind,
    FinalResult,
    LineFramer,
    is_boot_banner,
    is_idempotent,
    is_unsolicited,
    parse_final,
    response_prefix,
)
from credwarden.at.timeouts import TimeoutPolicy
from credwarden.errors import (
    AnswerTooLarge,
    DeviceRebooted,
    DeviceTimeout,
    ModemError,
    ProtocolError,
    TransportError,
    WrongMode,
    modem_error,
)
from credwarden.log import ALREADY_REDACTED, WIRE_LOGGER, StreamRedactor, describe_command
from credwarden.models import SessionStats
from credwarden.modem.dialect import Dialect, is_plain_echo, not_a_modem
from credwarden.transport.base import Transport

Observer = Callable[[str, dict[str, Any]], None]

log = logging.getLogger("credwarden.session")
wire = logging.getLogger(WIRE_LOGGER)

#: NVM-touching commands (counted in `stats.nvm_operations`).
_NVM_PREFIXES = ("AT%CMNG=0", "AT%CMNG=3", "AT%KEYGEN", "AT#XCMNG=0", "AT#XCMNG=3", "AT%XPMNG=0")
_READ_CHUNK = 4096
#: The probe that proves the line is in step: its answer has an information line, and tells the CMEE setting.
SYNC_PROBE = "AT+CMEE?"
_SYNC_INFO = "+CMEE:"
_REDACTED = {ALREADY_REDACTED: True}


class LineKind(Enum):
    """What a received line is, for the command being answered."""

    BLANK = "blank"
    ECHO = "echo"  #: the front-end repeating the command
    BANNER = "banner"  #: a boot banner (a restart)
    FINAL = "final"  #: OK / ERROR / +CME ERROR / +CMS ERROR
    FAILURE = "failure"  #: the shell could not pass the command (no modem answer follows)
    FOREIGN = "foreign"  #: a line only another front-end prints (wrong --mode)
    URC = "urc"  #: unsolicited, never part of the answer
    INFO = "info"  #: an information line of the answer


@dataclass(frozen=True)
class Line:
    """One classified line (`text` cleaned of prompt / ANSI and stripped)."""

    kind: LineKind
    text: str
    final: FinalResult | None = None
    detail: str | None = None  #: FAILURE: the explanation; FOREIGN: the mode it betrays


class _Lost(Exception):
    """Internal: the answer did not end (its final result never came)."""

    def __init__(self, quiet: bool, heard: str, lines: tuple[str, ...] = ()) -> None:
        super().__init__("lost")
        self.quiet = quiet  #: noticed by silence after an information line (else: the command's timeout)
        self.heard = heard  #: everything received meanwhile (for the echo diagnosis)
        self.lines = lines  #: the information lines that did come


class AtSession:
    """Sends AT commands through a dialect and returns their answers (`AtResponse`)."""

    def __init__(
        self,
        transport: Transport,
        dialect: Dialect,
        *,
        timeouts: TimeoutPolicy | None = None,
    ) -> None:
        self.transport = transport
        self.dialect = dialect
        self.timeouts = timeouts or TimeoutPolicy()
        self.stats = SessionStats()
        self._observers: list[Observer] = []
        self._framer = LineFramer()
        self._rx_redactor = StreamRedactor()
        self._established = False  #: an answer came: a boot banner from now on is a reboot
        self.reboot_pending = False  #: a reboot was reported; guards must be re-established
        self._sync_needed = False  #: a reboot was seen: synchronise (quiet line + tagged probe) before the next command
        self.responsive = True  #: False after a timeout whose resync failed (the device stopped answering)
        self.cmee: int | None = None  #: the modem's `+CMEE` setting as last known (None: not known)
        self._cmee_unsupported = False  #: `AT+CMEE=1` was refused: errors stay bare

    # -- observers ---------------------------------------------------------------------------------------
    def add_observer(self, callback: Observer) -> None:
        """`callback(event, data)` for "command", "response", "bytes", "urc", "timeout", "retry", "reboot"."""
        self._observers.append(callback)

    def remove_observer(self, callback: Observer) -> None:
        if callback in self._observers:
            self._observers.remove(callback)

    def _notify(self, event: str, **data: Any) -> None:
        for callback in list(self._observers):
            try:
                callback(event, data)
            except Exception:  # an observer must never break the session
                log.exception("observer %r failed on %s", callback, event)

    def mark_established(self) -> None:
        """The device has answered (the dialect probe counts): from now on a boot banner is a reboot."""
        self._established = True

    # -- I/O -----------------------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        self.transport.write(data)
        self.stats.bytes_out += len(data)
        if wire.isEnabledFor(logging.DEBUG):
            redactor = StreamRedactor()
            shown = redactor.feed(data.decode("latin-1")) + redactor.flush()
            wire.debug(">> %r", shown, extra=_REDACTED)
        self._notify("bytes", direction="out", count=len(data))

    def _read(self, timeout: float) -> list[str]:
        """Read once (up to `timeout`), return the complete lines it produced."""
        chunk = self.transport.read(_READ_CHUNK, max(0.0, timeout))
        if not chunk:
            return []
        self.stats.bytes_in += len(chunk)
        text = chunk.decode("latin-1")
        shown = self._rx_redactor.feed(text)
        if shown and wire.isEnabledFor(logging.DEBUG):
            wire.debug("<< %r", shown, extra=_REDACTED)
        self._notify("bytes", direction="in", count=len(chunk))
        return self._framer.feed(text)

    def classify(self, raw: str, command: str | None = None, prefix: str | None = None, first: bool = True) -> Line:
        """Classify one received line for `command` (None: between commands); `prefix` is its answer's
        information prefix; `first`: no information line of the answer came yet (an echo is still possible)."""
        text = self.dialect.clean_line(raw).strip()
        if not text:
            return Line(LineKind.BLANK, text)
        if command is not None and first and self.dialect.is_echo(text, command):
            return Line(LineKind.ECHO, text)
        if is_boot_banner(text):
            return Line(LineKind.BANNER, text)
        final = parse_final(text)
        if final is not None:
            return Line(LineKind.FINAL, text, final=final)
        failure = self.dialect.shell_failure(text)
        if failure is not None:
            return Line(LineKind.FAILURE, text, detail=failure)
        foreign = self.dialect.foreign_mode(text)
        if foreign is not None:
            return Line(LineKind.FOREIGN, text, detail=foreign)
        if is_unsolicited(text, prefix):
            return Line(LineKind.URC, text)
        return Line(LineKind.INFO, text)

    def _note_urc(self, line: str) -> None:
        self.stats.urcs.append(line)
        log.info("unsolicited: %s", line)
        self._notify("urc", line=line)

    def _boot_banner(self, line: str) -> None:
        self._note_urc(line)
        if self._established:
            self.reboot_pending = True
            self._sync_needed = True
            self.stats.reboots += 1
            self.cmee = None  # back to the firmware's default; read again by the next probe
            self._notify("reboot", line=line)
            raise DeviceRebooted(
                f"{self.transport.name} restarted during the session (it printed {line.strip()!r}); "
                "volatile settings (CFUN, CMEE) are back to their defaults"
            )

    def note_silent_reboot(self, reason: str) -> None:
        """Record a restart found by its effects (an at_client reboot prints no banner)."""
        self.stats.reboots += 1
        self._sync_needed = True
        log.warning("%s restarted silently during the session: %s", self.transport.name, reason)
        self._notify("reboot", line=None, silent=True, reason=reason)

    def poll(self) -> None:
        """Process what already arrived (URCs, stale answers) without waiting; DeviceRebooted for a boot banner."""
        self._drain_pending()

    def _drain_pending(self) -> None:
        """Consume what already arrived (stale answers, URCs) without waiting."""
        while True:
            lines = self._read(0.0)
            if not lines:
                break
            for raw in lines:
                line = self.classify(raw)
                if line.kind is LineKind.BANNER:
                    self._boot_banner(line.text)
                elif line.kind in (LineKind.URC, LineKind.INFO, LineKind.FOREIGN):
                    self._note_urc(line.text)

    def drain(self, quiet: float | None = None, limit: float | None = None) -> int:
        """Read and drop input until the line is quiet for `quiet` s (at most `limit` s); bytes dropped.

        Defaults come from the timeout policy (`drain_quiet`, `drain_max`).
        """
        quiet = self.timeouts.drain_quiet if quiet is None else quiet
        limit = self.timeouts.drain_max if limit is None else limit
        dropped = 0
        end = time.monotonic() + limit
        while time.monotonic() < end:
            before = self.stats.bytes_in
            self._read(min(quiet, max(0.0, end - time.monotonic())))
            if self.stats.bytes_in == before:
                break
            dropped += self.stats.bytes_in - before
        self._framer.clear()
        self._rx_redactor.flush()
        return dropped

    # -- commands ------------------------------------------------------------------------------------------
    def send(self, command: str, *, timeout: float | None = None, retry: bool | None = None) -> AtResponse:
        """Send `command` and return its answer whatever the final result (no exception for ERROR).

        A lost answer is resynchronised; a read-only command (or `retry=True`) is then sent again, at most
        `timeouts.retries` times. DeviceTimeout when the answer stays lost.
        """
        if "\r" in command.split('"', 1)[0] or "\n" in command.split('"', 1)[0]:
            raise ProtocolError("a command must be a single line outside its quoted content")
        shown = describe_command(command)
        limit = timeout if timeout is not None else self.timeouts.for_command(command)
        repeat = is_idempotent(command) if retry is None else retry
        attempts = 1 + (self.timeouts.retries if repeat else 0)
        for attempt in range(1, attempts + 1):
            try:
                return self._exchange(command, shown, limit)
            except _Lost as lost:
                recovered = self._recover(command, shown, limit, lost)
                if recovered and attempt < attempts:
                    self.stats.retries += 1
                    log.info("answer to %s lost; sending it again (%d/%d)", shown, attempt + 1, attempts)
                    self._notify("retry", command=shown, attempt=attempt + 1)
                    continue
                state = "the line was resynchronised" if recovered else "the device does not answer AT any more"
                where = self.transport.name
                if lost.quiet:
                    message = f"the answer to {shown} on {where} stopped before its final result ({state})"
                else:
                    message = f"no final result for {shown} within {limit:g} s on {where} ({state})"
                raise DeviceTimeout(message, command=shown, timeout=limit) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _exchange(self, command: str, shown: str, limit: float) -> AtResponse:
        """One attempt: write the command, read its answer. `_Lost` when the final result does not come."""
        if not self.responsive and not self.resync(probes=1):
            raise DeviceTimeout(
                f"{self.transport.name} stopped answering (no answer to the probe after the previous timeout); "
                f"{shown} was not sent. Check power and cabling, then reconnect",
                command=shown,
            )
        if self._sync_needed and not self.synchronise():
            raise DeviceTimeout(
                f"{self.transport.name} restarted and does not answer since; {shown} was not sent",
                command=shown,
            )
        self._drain_pending()
        self.stats.commands += 1
        if command.upper().startswith(_NVM_PREFIXES):
            self.stats.nvm_operations += 1
        self._notify("command", command=shown, timeout=limit)
        started = time.monotonic()
        self._write(self.dialect.encode(command))
        answer = self._read_answer(command, shown, started + limit)
        self._established = True
        response = AtResponse(shown, answer.lines, answer.final, answer.urcs, time.monotonic() - started)
        self._notify("response", command=shown, final=response.final.line, duration=response.duration)
        return response

    def _recover(self, command: str, shown: str, limit: float, lost: _Lost) -> bool:
        """After a lost answer: TransportError for a port that only echoes, else resync; True when in step."""
        self.stats.lost_answers += 1
        self._notify("timeout", command=shown, timeout=limit, quiet=lost.quiet)
        if not self._established and is_plain_echo(lost.heard, self.dialect.encode(command)):
            raise TransportError(not_a_modem(self.transport.name, shown, lost.heard, self.dialect.encode(command)))
        return self.resync(drained=lost.quiet)

    def command(
        self, command: str, *, timeout: float | None = None, retry: bool | None = None, explain: bool = True
    ) -> AtResponse:
        """Send `command`; raise the matching ModemError for `ERROR` / `+CME ERROR` / `+CMS ERROR`.

        Numeric errors are turned on first for a command that changes something, and (`explain`) before repeating
        a read-only command that answered a bare `ERROR`, so errors come with their code. `explain=False` for
        probes whose refusal is an answer in itself (an optional command the firmware may not have).
        """
        readonly = is_idempotent(command) if retry is None else retry
        sets_cmee = command.strip().upper().startswith("AT+CMEE")
        if not readonly and not sets_cmee:
            self.numeric_errors()
        response = self.send(command, timeout=timeout, retry=readonly)
        bare = response.final.kind is FinalKind.ERROR
        if bare and explain and readonly and not sets_cmee and self.cmee != 1 and self.numeric_errors():
            response = self.send(command, timeout=timeout, retry=readonly)
            bare = response.final.kind is FinalKind.ERROR
        if not response.ok:
            raise self._error(response, bare)
        return response

    def _error(self, response: AtResponse, bare: bool) -> ModemError:
        final = response.final
        cms = final.kind is FinalKind.CMS
        if not bare:
            return modem_error(final.code, command=response.command, cms=cms)
        if self.cmee == 1:
            return modem_error(
                None,
                command=response.command,
                meaning="the modem answered ERROR without a code although numeric errors are on",
                hint="the modem does not accept this command as sent: check its name and parameters, and that "
                "this firmware supports it",
            )
        if self._cmee_unsupported:
            return modem_error(
                None,
                command=response.command,
                meaning="the modem answered ERROR without a code",
                hint="this firmware refuses AT+CMEE=1, so no error codes: check the command and its parameters",
            )
        return modem_error(None, command=response.command)  # numeric errors really are off

    # -- state settings ------------------------------------------------------------------------------------
    def numeric_errors(self) -> bool:
        """Turn numeric errors on (`AT+CMEE=1`) unless they are; True when this call turned them on."""
        if self.cmee == 1 or self._cmee_unsupported:
            return False
        try:
            self.set_verified("AT+CMEE=1", self.read_cmee, 1)
        except ModemError:
            self._cmee_unsupported = True
            log.info("the modem refuses AT+CMEE=1: errors stay bare")
            return False
        self.cmee = 1
        return True

    def set_verified(self, command: str, read: Callable[[], int | None], expected: int) -> None:
        """Send a setting (`AT+CFUN=4`, `AT+CMEE=1`); when its answer is lost, read the state before sending it
        again (at most once). ModemError when refused, DeviceTimeout when it cannot be confirmed."""
        for attempt in (1, 2):
            try:
                self.command(command, retry=False)
                return
            except DeviceTimeout:
                if not self.responsive:
                    raise
                if read() == expected:
                    log.info("the answer to %s was lost; the state shows it took effect", command)
                    return
                if attempt == 2:
                    raise
                log.info("the answer to %s was lost and the state did not change; sending it again", command)

    # -- probes --------------------------------------------------------------------------------------------
    def read_cmee(self, *, limit: float | None = None, attempts: int | None = None) -> int | None:
        """`AT+CMEE?` through the tagged reader (a late final of an earlier command is not taken for its answer);
        None when the firmware does not report it. Sent again when nothing answered, like any read-only command
        (`attempts` in all, default 1 + `timeouts.retries`; each waits `limit`, default the base timeout)."""
        wait = self.timeouts.base if limit is None else limit
        tries = self.timeouts.retries + 1 if attempts is None else max(1, attempts)
        for attempt in range(1, tries + 1):
            if attempt > 1:
                self.stats.retries += 1
                self._notify("retry", command=SYNC_PROBE, attempt=attempt)
            if self._probe(limit=wait, counted=True):
                self.responsive = True
                return self.cmee
        self.responsive = False
        raise DeviceTimeout(
            f"no answer to {SYNC_PROBE} on {self.transport.name} within {wait:g} s"
            + (
                ""
                if self._established
                else ": check the port, the baud rate, that the board is "
                f"powered, and that it runs the {self.dialect.name} front-end (or use --mode auto)"
            ),
            command=SYNC_PROBE,
            timeout=wait,
        )

    def resync(self, probes: int | None = None, *, drained: bool = False) -> bool:
        """Drain (unless the line just went quiet), then send the tagged probe until it is answered (at most
        `probes` times, default from the timeout policy); True when the line answers again."""
        if drained:
            self._framer.clear()
        else:
            self.drain()
        for _ in range(max(1, self.timeouts.resync_probes if probes is None else probes)):
            try:
                answered = self._probe(limit=self.timeouts.resync_probe + self.timeouts.drain_quiet, counted=False)
            except ProtocolError:
                self.drain()
                continue
            if answered:
                self._sync_needed = False
                self.responsive = True
                return True
        self.responsive = False
        return False

    def synchronise(self) -> bool:
        """After a reboot: drain until quiet, then probe until the probe's own answer arrives; True when in step."""
        return self.resync()

    def _probe(self, *, limit: float, counted: bool) -> bool:
        """Send the tagged probe once; True when answered (its `+CMEE:` line is enough: a lost final result after
        it proves the line in step as well). Updates `cmee`."""
        if counted:
            self._drain_pending()
            self.stats.commands += 1
            self._notify("command", command=SYNC_PROBE, timeout=limit)
        encoded = self.dialect.encode(SYNC_PROBE)
        self._write(encoded)
        try:
            answer = self._read_answer(SYNC_PROBE, SYNC_PROBE, time.monotonic() + limit, tag=_SYNC_INFO)
        except _Lost as lost:
            if not self._established and is_plain_echo(lost.heard, encoded):
                raise TransportError(not_a_modem(self.transport.name, SYNC_PROBE, lost.heard, encoded)) from None
            self.stats.lost_answers += 1
            if not lost.lines:
                self.drain()
                return False
            self._framer.clear()
            lines: tuple[str, ...] = lost.lines
            final: FinalResult | None = None
        except DeviceRebooted:  # rebooted again: the next probe goes to the fresh device
            self.drain()
            return False
        else:
            lines, final = answer.lines, answer.final
        self._established = True
        if counted:
            self._notify("response", command=SYNC_PROBE, final=final.line if final else None, duration=0.0)
        if lines:
            self.cmee = parse_int_value(list(lines), _SYNC_INFO)
        elif final is not None and not final.ok:
            self.cmee = 0 if self.cmee is None else self.cmee  # no CMEE query on this firmware: off by default
        return True

    # -- the one reader ------------------------------------------------------------------------------------
    def _read_answer(self, command: str, shown: str, deadline: float, *, tag: str | None = None) -> AtResponse:
        """Read the answer to `command` up to its final result.

        `tag`: the answer must carry an information line with this prefix (the probe); final results before it are
        late answers of an interrupted command and are dropped, unless nothing else follows within `drain_quiet`.
        After an information line, silence for `answer_quiet` means the final result was lost (`_Lost`).
        """
        prefix = tag or response_prefix(command)
        lines: list[str] = []
        urcs: list[str] = []
        heard: list[str] = []
        echoed = False
        blank_before = False
        stale: FinalResult | None = None  # tagged: a final result before the tag line
        quiet_until: float | None = None
        while True:
            now = time.monotonic()
            limit = deadline if quiet_until is None else min(deadline, quiet_until)
            if now >= limit:
                if stale is not None:
                    return AtResponse(shown, (), stale, tuple(urcs))
                heard_text = "".join(heard) + self._framer.pending
                raise _Lost(quiet=bool(lines) and now < deadline, heard=heard_text, lines=tuple(lines))
            before = self.stats.bytes_in
            received = self._read(limit - now)
            if self.stats.bytes_in != before and quiet_until is not None:
                quiet_until = time.monotonic() + (self.timeouts.drain_quiet if stale else self.timeouts.answer_quiet)
            for raw in received:
                heard.append(raw + "\n")
                line = self.classify(raw, command, prefix, first=not lines)
                kind = line.kind
                if kind is LineKind.BLANK:
                    blank_before = True
                    continue
                if kind is LineKind.ECHO:
                    echoed = True
                elif kind is LineKind.BANNER:
                    self._boot_banner(line.text)
                elif kind is LineKind.FINAL:
                    assert line.final is not None
                    self._check_shell_answered(line.final, echoed, blank_before)
                    if tag is not None and not lines:
                        stale = line.final
                        quiet_until = time.monotonic() + self.timeouts.drain_quiet
                        continue
                    return AtResponse(shown, tuple(lines), line.final, tuple(urcs))
                elif kind is LineKind.FAILURE:
                    self.drain()
                    error = AnswerTooLarge if self.dialect.answer_too_large(line.text) else ProtocolError
                    raise error(f"{shown}: {line.detail}")
                elif kind is LineKind.FOREIGN:
                    self.drain()
                    raise self._wrong_mode(line.text, shown, str(line.detail))
                elif kind is LineKind.URC or (tag is not None and not line.text.upper().startswith(tag)):
                    urcs.append(line.text)
                    self._note_urc(line.text)  # (tagged: info lines of an interrupted command's late answer)
                else:
                    if stale is not None:
                        log.info("dropped a stale final result %r", stale.line)
                        stale = None
                    lines.append(line.text)
                    quiet_until = time.monotonic() + self.timeouts.answer_quiet
                blank_before = False

    def _check_shell_answered(self, final: FinalResult, echoed: bool, blank_before: bool) -> None:
        """`--mode shell` on a port whose first answer is a bare ERROR without the shell's echo: not a shell."""
        if self.dialect.name != "shell" or echoed or self._established or final.kind is not FinalKind.ERROR:
            return
        self.drain()
        suggested = "slm" if blank_before else "at_client"
        raise WrongMode(
            f"{self.transport.name} answered {final.line!r} without echoing the typed line: it is not an NCS shell "
            f"but an AT interface ({'Serial LTE Modem framing' if suggested == 'slm' else 'AT host'}); "
            f"use --mode {suggested} (or --mode auto)",
            suggested=suggested,
        )

    def _wrong_mode(self, heard: str, shown: str, suggested: str) -> WrongMode:
        return WrongMode(
            f"{self.transport.name} answered {heard!r} to {shown}: it is an NCS shell, not the "
            f"{self.dialect.name} front-end given with --mode; use --mode {suggested} (or --mode auto)",
            suggested=suggested,
        )

    def close(self) -> None:
        """Flush the wire log and close the transport."""
        tail = self._rx_redactor.flush()
        if tail and wire.isEnabledFor(logging.DEBUG):
            wire.debug("<< %r", tail, extra=_REDACTED)
        self.transport.close()
