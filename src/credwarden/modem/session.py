"""One AT session over one transport: send a command, collect its answer, set URCs aside, resync on timeout.

No fixed sleeps: every wait is a read with a deadline. After a reboot the device may still answer the interrupted
command: before the next command the session drains until the line is quiet, then sends a tagged probe
(`AT+CMEE?`, whose answer carries a `+CMEE:` line, so a late bare `OK` cannot be taken for it); after a timeout the
`AT` probe's answer is followed by a drain until quiet as well. Wire traffic is logged at DEBUG on `credwarden.wire`
through the stream redactor, so secrets never reach the log even when a command is split across reads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from credwarden.at.response import (
    AtResponse,
    FinalKind,
    FinalResult,
    LineFramer,
    is_boot_banner,
    is_unsolicited,
    parse_final,
    response_prefix,
)
from credwarden.at.timeouts import TimeoutPolicy
from credwarden.errors import DeviceRebooted, DeviceTimeout, ProtocolError, modem_error
from credwarden.log import ALREADY_REDACTED, WIRE_LOGGER, StreamRedactor, describe_command
from credwarden.models import SessionStats
from credwarden.modem.dialect import Dialect
from credwarden.transport.base import Transport

Observer = Callable[[str, dict[str, Any]], None]

log = logging.getLogger("credwarden.session")
wire = logging.getLogger(WIRE_LOGGER)

#: NVM-touching commands (counted in `stats.nvm_operations`).
_NVM_PREFIXES = ("AT%CMNG=0", "AT%CMNG=3", "AT%KEYGEN", "AT#XCMNG=0", "AT#XCMNG=3", "AT%XPMNG=0")
_READ_CHUNK = 4096
#: The probe that proves the line is in step after a reboot: its answer has an information line.
SYNC_PROBE = "AT+CMEE?"
_SYNC_INFO = "+CMEE:"
_REDACTED = {ALREADY_REDACTED: True}


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
        self._established = False  #: a command completed: a boot banner from now on is a reboot
        self.reboot_pending = False  #: a reboot was reported; guards must be re-established
        self._sync_needed = False  #: a reboot was seen: synchronise (quiet line + tagged probe) before the next command
        self.responsive = True  #: False after a timeout whose resync failed (the device stopped answering)

    # -- observers ---------------------------------------------------------------------------------------
    def add_observer(self, callback: Observer) -> None:
        """`callback(event, data)` for "command", "response", "bytes", "urc", "timeout", "reboot"."""
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
                line = self.dialect.clean_line(raw).strip()
                if not line:
                    continue
                if is_boot_banner(line):
                    self._boot_banner(line)
                elif parse_final(line) is None and self.dialect.shell_failure(line) is None:
                    self._note_urc(line)

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
    def send(self, command: str, *, timeout: float | None = None) -> AtResponse:
        """Send `command` and return its answer whatever the final result (no exception for ERROR)."""
        if "\r" in command.split('"', 1)[0] or "\n" in command.split('"', 1)[0]:
            raise ProtocolError("a command must be a single line outside its quoted content")
        shown = describe_command(command)
        limit = timeout if timeout is not None else self.timeouts.for_command(command)
        if not self.responsive and not self.resync(probes=1):
            raise DeviceTimeout(
                f"{self.transport.name} stopped answering (no OK to AT after the previous timeout); "
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
        try:
            response = self._collect(command, shown, started + limit)
        except DeviceTimeout:
            self._notify("timeout", command=shown, timeout=limit)
            recovered = self.resync()
            state = "the line was resynchronised" if recovered else "the device does not answer AT any more"
            raise DeviceTimeout(
                f"no final result for {shown} within {limit:g} s on {self.transport.name} ({state})",
                command=shown,
                timeout=limit,
            ) from None
        self._established = True
        response = AtResponse(
            command=shown,
            lines=response.lines,
            final=response.final,
            urcs=response.urcs,
            duration=time.monotonic() - started,
        )
        self._notify("response", command=shown, final=response.final.line, duration=response.duration)
        return response

    def command(self, command: str, *, timeout: float | None = None) -> AtResponse:
        """Send `command`; raise the matching ModemError for `ERROR` / `+CME ERROR` / `+CMS ERROR`."""
        response = self.send(command, timeout=timeout)
        if not response.ok:
            final = response.final
            raise modem_error(final.code, command=response.command, cms=final.kind is FinalKind.CMS)
        return response

    def _collect(self, command: str, shown: str, deadline: float) -> AtResponse:
        prefix = response_prefix(command)
        lines: list[str] = []
        urcs: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeout(f"timeout waiting for {shown}", command=shown)
            for raw in self._read(remaining):
                line = self.dialect.clean_line(raw)
                stripped = line.strip()
                if not stripped:
                    continue
                if not lines and self.dialect.is_echo(stripped, command):
                    continue
                if is_boot_banner(stripped):
                    self._boot_banner(stripped)
                    continue
                final = parse_final(stripped)
                if final is not None:
                    return AtResponse(shown, tuple(lines), final, tuple(urcs))
                failure = self.dialect.shell_failure(stripped)
                if failure is not None:
                    self.drain()
                    raise ProtocolError(f"{shown}: {failure}")
                if is_unsolicited(stripped, prefix):
                    urcs.append(stripped)
                    self._note_urc(stripped)
                    continue
                lines.append(stripped)

    def resync(self, probes: int | None = None) -> bool:
        """Drain, then probe with `AT` until `OK` (at most `probes` times, default from the timeout policy);
        True when the line answers again."""
        self.drain()
        for _ in range(self.timeouts.resync_probes if probes is None else probes):
            self._write(self.dialect.encode("AT"))
            try:
                answer = self._collect("AT", "AT", time.monotonic() + self.timeouts.resync_probe)
            except (DeviceTimeout, ProtocolError):
                self.drain()
                continue
            except DeviceRebooted:
                continue
            if answer.final.kind in (FinalKind.OK, FinalKind.ERROR):
                # a late answer to the timed-out command may have been taken for the probe's: the probe's own
                # answer then follows, so wait for a quiet line before the next command
                self.drain()
                self.responsive = True
                return True
        self.responsive = False
        return False

    def synchronise(self) -> bool:
        """After a reboot: drain until quiet, then send the tagged probe until its own answer arrives.

        A final result without the probe's `+CMEE:` line is the late answer of the interrupted command (or a
        firmware that cannot report CMEE): it is taken only when nothing else follows within `drain_quiet`.
        True when the line is in step again.
        """
        self.drain()
        for _ in range(max(1, self.timeouts.resync_probes)):
            self._write(self.dialect.encode(SYNC_PROBE))
            try:
                self._await_sync_answer(time.monotonic() + self.timeouts.resync_probe + self.timeouts.drain_quiet)
            except (DeviceTimeout, ProtocolError):
                self.drain()
                continue
            except DeviceRebooted:  # rebooted again: the next probe goes to the fresh device
                self.drain()
                continue
            self._sync_needed = False
            self.responsive = True
            return True
        self.responsive = False
        return False

    def _await_sync_answer(self, deadline: float) -> FinalResult:
        """Read up to the probe's answer (its info line, then a final); stale finals before it are dropped."""
        info_seen = False
        bare: FinalResult | None = None
        quiet_until = deadline
        while True:
            now = time.monotonic()
            if now >= min(deadline, quiet_until):
                if bare is not None:
                    return bare
                raise DeviceTimeout(f"no answer to {SYNC_PROBE}", command=SYNC_PROBE)
            for raw in self._read(min(deadline, quiet_until) - now):
                stripped = self.dialect.clean_line(raw).strip()
                if not stripped or self.dialect.is_echo(stripped, SYNC_PROBE):
                    continue
                if is_boot_banner(stripped):
                    self._boot_banner(stripped)
                    continue
                final = parse_final(stripped)
                if final is not None:
                    if info_seen:
                        return final
                    if bare is not None:
                        log.info("dropped a stale final result %r after the restart", bare.line)
                    bare = final
                    quiet_until = time.monotonic() + self.timeouts.drain_quiet
                    continue
                failure = self.dialect.shell_failure(stripped)
                if failure is not None:
                    raise ProtocolError(f"{SYNC_PROBE}: {failure}")
                if stripped.upper().startswith(_SYNC_INFO):
                    info_seen, bare, quiet_until = True, None, deadline
                else:
                    self._note_urc(stripped)  # info lines of the interrupted command's late answer

    def close(self) -> None:
        """Flush the wire log and close the transport."""
        tail = self._rx_redactor.flush()
        if tail and wire.isEnabledFor(logging.DEBUG):
            wire.debug("<< %r", tail, extra=_REDACTED)
        self.transport.close()
