"""Session guards: numeric errors (`+CMEE=1`) for the session, and the offline window for NVM changes.

`AT+CMEE?` is read first and restored at the end. `offline()` switches to `AT+CFUN=4` only when the modem is
online (1, 2, 21) and restores the original mode afterwards, also on errors and Ctrl-C (spec §2.6, §6.1).
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
        self._cmee_changed = False
        self._depth = 0
        self._restore_cfun: int | None = None

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
        cfun = self.read_cfun()
        if self.original_cfun is None:
            self.original_cfun = cfun

    def reestablish(self) -> None:
        """After a reboot: resync and turn numeric errors on again (the original values are kept)."""
        self.session.resync()
        self.session.reboot_pending = False
        self.establish()

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
        self._restore_cfun = current if current in ONLINE_MODES else None
        self._depth = 1
        try:
            if self._restore_cfun is not None:
                # inside the try: a lost answer to CFUN=4 may still have switched the modem, so restore anyway
                log.info("modem online (CFUN=%s): switching to CFUN=%d for the change", current, OFFLINE_MODE)
                self.session.command(f"AT+CFUN={OFFLINE_MODE}")
            yield
        except BaseException as exc:
            self._depth = 0
            if isinstance(exc, KeyboardInterrupt | DeviceRebooted):  # (a DeviceTimeout was resynced already)
                with contextlib.suppress(CredwardenError):
                    self.session.resync()
            with contextlib.suppress(CredwardenError):  # keep the original error; the failure is logged
                self._restore()
            raise
        self._depth = 0
        self._restore()

    def _restore(self) -> None:
        mode, self._restore_cfun = self._restore_cfun, None
        if mode is None:
            return
        try:
            self.session.command(f"AT+CFUN={mode}")
            log.info("functional mode restored to CFUN=%d", mode)
        except CredwardenError as exc:
            log.error("could not restore CFUN=%d: %s", mode, exc)
            raise

    def restore(self) -> None:
        """End of session: put `+CMEE` back as it was (best effort)."""
        if self._cmee_changed and self.original_cmee is not None and self.session.responsive:
            with contextlib.suppress(CredwardenError):
                self.session.command(f"AT+CMEE={self.original_cmee}")
            self._cmee_changed = False
