"""A minimal raw serial client for the simulator tests: bytes in, bytes out, no credwarden client code."""

from __future__ import annotations

import contextlib
import os
import re
import select
import termios
import time

FINAL = re.compile(rb"(?:^|\n)(?:OK|ERROR|\+CME ERROR: \d+)\r\n$")


class RawPort:
    """Opens a pty path with os.open (the simulator keeps the pty raw) and reads with deadlines."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        termios.tcflush(self.fd, termios.TCIFLUSH)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                select.select([], [self.fd], [], 1.0)

    def read_until(self, pattern: re.Pattern[bytes] | bytes, timeout: float = 3.0) -> bytes:
        """Read until the data matches `pattern` (regex searched, or a bytes suffix) or the timeout passes."""
        out = b""
        deadline = time.monotonic() + timeout
        while not (pattern.search(out) if isinstance(pattern, re.Pattern) else out.endswith(pattern)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    out += os.read(self.fd, 65536)
                except BlockingIOError:
                    continue
        return out

    def collect(self, seconds: float) -> bytes:
        """Everything that arrives within `seconds` (to assert silence or gather trailing output)."""
        out = b""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                with contextlib.suppress(BlockingIOError):
                    out += os.read(self.fd, 65536)
        return out

    def command(self, text: bytes | str, *, terminator: bytes = b"\r", timeout: float = 3.0) -> bytes:
        """Send one command and read its answer up to the final result code."""
        data = text.encode("latin-1") if isinstance(text, str) else text
        self.write(data + terminator)
        return self.read_until(FINAL, timeout=timeout)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> RawPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
