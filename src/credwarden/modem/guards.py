"""Session guards: the numeric-error setting found at start (restored at the end), and the offline window.

A session costs what its work needs: `+CMEE` is learnt from the first command (the dialect probe `AT+CMEE?`),
numeric errors are turned on only before the first change (or to explain a bare `ERROR`) and restored at the end
only when they were changed; `AT+CFUN?` is read only when something needs the functional mode (an offline window,
`info`). `offline()` switches to `AT+CFUN=4` only when the modem is online (1, 2, 21) and sets the mode back
afterwards, also on errors and Ctrl-C (modem-behaviour.md#cfun-rules).

CFUN rule: whenever the device still answers, it is left in the functional mode FOUND when the session first read
it (`kept_cfun`; an explicit `AT+CFUN=<n>` sent through `Device.at()` outside an offline block changes it). A reboot
puts the modem in its boot mode (often 4), so:
* `reestablish()` (after `DeviceRebooted`) keeps the found mode and, outside an offline block, sets it again;
* the exit of `offline()` reads `AT+CMEE?` (numeric errors were on for the window: reading 0 means the at_client
  restarted without a banner; counted in `stats.reboots`, "reboot" event with `silent=True`) and sets the kept mode
  when the window switched it or a restart was found.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from credwarden.at.info import parse_int_value
from credwarden.errors import CredwardenError, DeviceRebooted, ModemError
from credwarden.modem.session import AtSession

log = logging.getLogger("credwarden.guards")

#: CFUN modes in which the modem refuses %CMNG writes and deletes with CME 518.
ONLINE_MODES = frozenset({1, 2, 21})
OFFLINE_MODE = 4


class Guards:
    """CMEE and CFUN state of one session."""

    def __init__(self, session: AtSession) -> None:
        self.session = session
        self.original_cmee: int | None = None
        self.original_cfun: int | None = None
        self.kept_cfun: int | None = None  #: the mode to leave the modem in (found when first read, or set by the user)
        self._depth = 0
        self._restore_cfun: int | None = None
        self._verified_at = -1  #: `stats.commands` when CMEE and CFUN were last confirmed as they must be
        self._mode_now: tuple[int | None, int] | None = None  #: (CFUN as last read or set, `stats.commands` then)

    def establish(self, cmee: int | None = None, *, first_contact: float | None = None) -> None:
        """Learn the numeric-error setting: `cmee` when the dialect probe's answer carried it, else one query (waiting
        `first_contact` s, once: a device that never answers is reported as soon as the dialect probe would be)."""
        if cmee is None:
            cmee = self.session.read_cmee(limit=first_contact, attempts=1 if first_contact is not None else None)
        else:
            self.session.cmee = cmee
        self.session.mark_established()
        if self.original_cmee is None:
            self.original_cmee = cmee if cmee is not None else 0  # not reported: the firmware default (off)

    def reestablish(self) -> None:
        """After a reboot: get back in step (the probe reads `+CMEE` again) and, outside an offline block, put the
        modem back in the mode found at session start, not its boot mode."""
        self.session.synchronise()
        self.session.reboot_pending = False
        if self._depth == 0 and self.kept_cfun is not None:
            self._ensure_cfun(self.kept_cfun)

    def user_set_cfun(self, mode: int) -> None:
        """The user switched CFUN explicitly: outside an offline block that becomes the mode to keep."""
        self._mode_now = (mode, self.session.stats.commands)
        if self._depth == 0:
            self.kept_cfun = mode
            if self.original_cfun is None:
                self.original_cfun = mode

    def _check_silent_reboot(self) -> bool:
        """CMEE back at 0 although the session set 1: the device restarted without a banner. True when found."""
        if self.session.reboot_pending:  # a reported reboot: nothing to guess
            self.session.reboot_pending = False
            return True
        if self.session.cmee != 1:
            return False  # numeric errors were never turned on: a reset cannot be told from here
        cmee = self.session.read_cmee()
        if cmee == 1:
            return False
        self.session.note_silent_reboot(f"+CMEE read {cmee} where the session had set 1")
        return True  # numeric errors go on again before the next change

    def _ensure_cfun(self, mode: int | None) -> None:
        """Set `mode` when the modem is in another one (one `AT+CFUN?` read)."""
        if mode is None:
            return
        current = self.read_cfun()
        if current != mode:
            log.info("functional mode is CFUN=%s, setting CFUN=%d (the mode found at session start)", current, mode)
            self.set_cfun(mode)

    def set_cfun(self, mode: int) -> None:
        """`AT+CFUN=<mode>`; a lost answer is settled by reading the mode before sending it again."""
        self.session.set_verified(f"AT+CFUN={mode}", self.read_cfun, mode)
        self._mode_now = (mode, self.session.stats.commands)

    def found_cfun(self) -> int | None:
        """The functional mode found (read once, on first use)."""
        if self.original_cfun is None:
            self.read_cfun()
        return self.original_cfun

    def _current_cfun(self) -> int | None:
        """The mode now: read, unless it was read or set by the very last command (anything else, the application
        or a restart included, may have changed it meanwhile)."""
        known = self._mode_now
        if known is not None and known[1] == self.session.stats.commands:
            return known[0]
        return self.read_cfun()

    def read_cfun(self) -> int | None:
        """`AT+CFUN?` -> the functional mode (None when the firmware does not answer it); the first reading is the
        mode found, the one the session leaves the modem in."""
        try:
            mode: int | None = parse_int_value(list(self.session.command("AT+CFUN?", explain=False).lines), "+CFUN:")
        except ModemError:
            mode = None
        self._mode_now = (mode, self.session.stats.commands)
        if self.original_cfun is None:
            self.original_cfun = mode
            if self.kept_cfun is None:
                self.kept_cfun = mode
        return mode

    @contextlib.contextmanager
    def offline(self) -> Iterator[None]:
        """Hold the modem out of the online modes for the block (nested use is a no-op)."""
        if self._depth > 0:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        current = self._current_cfun()
        # the mode to leave behind: the one found at session start (a silent reboot may have reset `current`)
        self._restore_cfun = self.kept_cfun if self.kept_cfun is not None else current
        self._depth = 1
        switched = False
        try:
            if current in ONLINE_MODES:
                # before the command: a lost answer to CFUN=4 may still have switched the modem, so restore anyway
                switched = True
                log.info("modem online (CFUN=%s): switching to CFUN=%d for the change", current, OFFLINE_MODE)
                self.set_cfun(OFFLINE_MODE)
            yield
        except BaseException as exc:
            self._depth = 0
            if isinstance(exc, DeviceRebooted):  # the rebooted modem may still answer the interrupted command
                with contextlib.suppress(CredwardenError):
                    self.session.synchronise()
            elif isinstance(exc, KeyboardInterrupt):  # (a DeviceTimeout was resynced already)
                with contextlib.suppress(CredwardenError):
                    self.session.resync()
            with contextlib.suppress(CredwardenError):  # keep the original error; the failure is logged
                self._restore(switched)
            raise
        self._depth = 0
        self._restore(switched)

    def _restore(self, switched: bool) -> None:
        mode, self._restore_cfun = self._restore_cfun, None
        rebooted = False
        try:
            rebooted = self._check_silent_reboot()
        except CredwardenError as exc:  # the CFUN step below still runs
            log.warning("could not check +CMEE after the offline block: %s", exc)
            rebooted = True  # unknown: read CFUN rather than assume
        try:
            if rebooted:
                self._ensure_cfun(mode)
            elif switched and mode is not None:
                self.set_cfun(mode)
        except CredwardenError as exc:
            log.error("could not restore CFUN=%s: %s", mode, exc)
            raise
        self._verified_at = self.session.stats.commands

    def restore(self) -> None:
        """End of session: look for a reboot since the last check where it would change what is left behind (a
        banner already received; CMEE reset while the modem was found online), put back the CFUN found at start
        if one happened, then `+CMEE` as it was when the session changed it (best effort)."""
        session = self.session
        if session.responsive and self._depth == 0:
            with contextlib.suppress(CredwardenError):
                session.poll()
            unchecked = session.stats.commands != self._verified_at
            if session.reboot_pending or (unchecked and self.kept_cfun in ONLINE_MODES):
                with contextlib.suppress(CredwardenError):
                    if self._check_silent_reboot():
                        self._ensure_cfun(self.kept_cfun)
        original = self.original_cmee
        if original is not None and session.cmee is not None and session.cmee != original and session.responsive:
            with contextlib.suppress(CredwardenError):
                session.set_verified(f"AT+CMEE={original}", session.read_cmee, original)
                session.cmee = original
