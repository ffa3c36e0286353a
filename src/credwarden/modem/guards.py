"""Session guards: numeric errors (`+CMEE=1`) for the session, and the offline window for NVM changes.

`AT+CMEE?` is read first and restored at the end. `offline()` switches to `AT+CFUN=4` only when the modem is
online (1, 2, 21) and restores the mode afterwards, also on errors and Ctrl-C (modem-behaviour.md#cfun-rules).

CFUN rule: whenever the device still answers, it is left in the functional mode FOUND at session start
(`kept_cfun`; an explicit `AT+CFUN=<n>` sent through `Device.at()` outside an offline block changes it). A reboot
puts the modem in its boot mode (often 4), so:
* `reestablish()` (after `DeviceRebooted`) keeps the found mode and, outside an offline block, sets it again;
* the exit of `offline()` reads `AT+CMEE?` and `AT+CFUN?` and sets the kept mode when it differs. CMEE reading 0
  where the session set 1 is a silent reboot (the at_client prints no banner): numeric errors are turned on again
  and the reboot is counted in `stats.reboots` and reported to observers ("reboot", silent=True).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from credwarden.at.info import parse_int_value
from credwarden.errors import CredwardenError, DeviceRebooted, DeviceTimeout, ModemError
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
        self._cmee_changed = False
        self._depth = 0
        self._restore_cfun: int | None = None
        self.kept_cfun: int | None = None  #: the mode to leave the modem in (found at start, or set by the user)
        self._cmee_on = False  #: the session turned numeric errors on (reading 0 later means a reboot)

    def establish(self) -> None:
        """Enable numeric errors (remembering the previous setting) and read the functional mode."""
        try:
            cmee = parse_int_value(list(self.session.command("AT+CMEE?").lines), "+CMEE:")
        except ModemError:
            cmee = 0  # firmware that cannot report it: assume the default (off)
        if self.original_cmee is None:
            self.original_cmee = cmee
        if cmee != 1:
            self.session.command("AT+CMEE=1")
            self._cmee_changed = self._cmee_changed or self.original_cmee != 1
        self._cmee_on = True
        cfun = self.read_cfun()
        if self.original_cfun is None:
            self.original_cfun = cfun
            self.kept_cfun = cfun

    def reestablish(self) -> None:
        """After a reboot: get back in step, turn numeric errors on again and (outside an offline block) put the
        modem back in the mode found at session start, not its boot mode."""
        if not self.session.synchronise():
            self.session.resync()
        self.session.reboot_pending = False
        self.establish()
        if self._depth == 0:
            self._ensure_cfun(self.kept_cfun)

    def user_set_cfun(self, mode: int) -> None:
        """The user switched CFUN explicitly: outside an offline block that becomes the mode to keep."""
        if self._depth == 0:
            self.kept_cfun = mode

    def _check_silent_reboot(self) -> None:
        """CMEE back at 0 although the session set 1: the device restarted without a banner; re-enable it."""
        if not self._cmee_on:
            return
        if self.session.reboot_pending:  # a reported reboot: turn numeric errors on again, nothing to guess
            self.session.command("AT+CMEE=1")
            self.session.reboot_pending = False
            return
        try:
            cmee = parse_int_value(list(self.session.command("AT+CMEE?").lines), "+CMEE:")
        except ModemError:
            return
        if cmee != 1:
            self.session.note_silent_reboot(f"+CMEE read {cmee} where the session had set 1")
            self.session.command("AT+CMEE=1")

    def _ensure_cfun(self, mode: int | None) -> None:
        """Set `mode` when the modem is in another one (one `AT+CFUN?` read)."""
        if mode is None:
            return
        try:
            current = self.read_cfun()
        except DeviceTimeout:  # the answer was lost (the line was resynchronised): set the mode anyway
            current = None
        if current != mode:
            log.info("functional mode is CFUN=%s, setting CFUN=%d (the mode found at session start)", current, mode)
            self.session.command(f"AT+CFUN={mode}")

    def read_cfun(self) -> int | None:
        """`AT+CFUN?` -> the functional mode (None when the firmware does not answer it)."""
        try:
            return parse_int_value(list(self.session.command("AT+CFUN?").lines), "+CFUN:")
        except ModemError:
            return None

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
        current = self.read_cfun()
        # the mode to leave behind: the one found at session start (a silent reboot may have reset `current`)
        self._restore_cfun = self.kept_cfun if self.kept_cfun is not None else current
        self._depth = 1
        try:
            if current in ONLINE_MODES:
                # inside the try: a lost answer to CFUN=4 may still have switched the modem, so restore anyway
                log.info("modem online (CFUN=%s): switching to CFUN=%d for the change", current, OFFLINE_MODE)
                self.session.command(f"AT+CFUN={OFFLINE_MODE}")
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
                self._restore()
            raise
        self._depth = 0
        self._restore()

    def _restore(self) -> None:
        mode, self._restore_cfun = self._restore_cfun, None
        try:
            self._check_silent_reboot()
        except CredwardenError as exc:  # the CFUN check below still runs
            log.warning("could not check +CMEE after the offline block: %s", exc)
        try:
            self._ensure_cfun(mode)
        except CredwardenError as exc:
            log.error("could not restore CFUN=%s: %s", mode, exc)
            raise

    def restore(self) -> None:
        """End of session: look for a reboot since the last command (a banner already received, or CMEE reset),
        put back the CFUN found at start if one happened, then `+CMEE` as it was (best effort)."""
        if self.session.responsive and self._depth == 0:
            with contextlib.suppress(CredwardenError):
                self.session.poll()
            with contextlib.suppress(CredwardenError):
                self._check_silent_reboot()
            if self.session.stats.reboots:
                with contextlib.suppress(CredwardenError):
                    self._ensure_cfun(self.kept_cfun)
        if self._cmee_changed and self.original_cmee is not None and self.session.responsive:
            with contextlib.suppress(CredwardenError):
                self.session.command(f"AT+CMEE={self.original_cmee}")
            self._cmee_changed = False
