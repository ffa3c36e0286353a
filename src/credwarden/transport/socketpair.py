"""A `Transport` over one end of a connected stream socket (the in-process simulator's socketpair)."""

from __future__ import annotations

import select
import socket

from credwarden.errors import TransportError


class SocketTransport:
    """Satisfies `credwarden.transport.base.Transport`; the other end is served by e.g. `SimModem`."""

    def __init__(self, sock: socket.socket, name: str = "sim://inprocess") -> None:
        self.name = name
        self._sock = sock
        self._sock.setblocking(False)
        self._closed = False

    def write(self, data: bytes) -> None:
        """Send all of `data` (TransportError when the simulator is gone)."""
        self._check_open()
        try:
            self._sock.setblocking(True)
            self._sock.sendall(data)
        except OSError as exc:
            raise TransportError(f"{self.name}: the connection is closed ({exc})") from None
        finally:
            self._sock.setblocking(False)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Up to `max_bytes` as soon as any arrive; b"" after `timeout` seconds without data."""
        self._check_open()
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN)
        if not poller.poll(max(0, int(timeout * 1000 + 0.999))):
            return b""
        try:
            data = self._sock.recv(max_bytes)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise TransportError(f"{self.name}: the connection failed ({exc})") from None
        if not data:
            raise TransportError(f"{self.name}: the other end closed the connection")
        return data

    def reset_input(self) -> None:
        """Drop everything received so far."""
        self._check_open()
        while True:
            try:
                if not self._sock.recv(65536):
                    return
            except (BlockingIOError, OSError):
                return

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            self._sock.close()

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError(f"{self.name}: already closed")

    def __enter__(self) -> SocketTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
