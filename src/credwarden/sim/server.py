"""Byte channels the simulator serves on: a pseudo-terminal master, a TCP/socketpair connection, a TCP listener.

Each channel runs one thread: read bytes → front-end → writes, throttled to the configured baud rate.
All of them use the same loop (`Channel.serve`), so in-process tests exercise the same path as a pty.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import termios
import threading
import time
import tty
from collections.abc import Callable

from credwarden.sim.frontends import Frontend

READ_CHUNK = 4096
NO_CLIENT_POLL_S = 0.05  #: how often a pty without a client is checked for a new one


def wait_fds(fds: list[int], events: int, timeout: float | None) -> list[int]:
    """The descriptors of `fds` that have one of `events` (POLLIN/POLLOUT), waiting at most `timeout` s.

    `poll()` instead of `select()`: descriptor numbers above 1024 (a long-running factory sim) stay fine.
    Hang-ups and errors count as ready so the caller's read/write sees them.
    """
    poller = select.poll()
    for fd in fds:
        poller.register(fd, events)
    millis = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
    return [fd for fd, _ in poller.poll(millis)]


class Channel:
    """One served byte stream. Subclasses implement `_read` / `_write_raw` / `_fileno`."""

    name = "channel"

    def __init__(self, baud: int | None) -> None:
        self.baud = baud
        self.frontend: Frontend | None = None
        self._closing = threading.Event()
        self._close_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()
        #: held while the front-end processes a chunk of input; `SimModem.restart()` takes it to reboot the
        #: front-end between chunks, never in the middle of one (re-entrant: a reboot command runs inside feed)
        self.feed_lock = threading.RLock()

    # -- overridden by subclasses
    def _fileno(self) -> int:
        raise NotImplementedError

    def _read(self) -> bytes | None:
        """Bytes received; b"" for nothing now; None when the peer is gone for good."""
        raise NotImplementedError

    def _write_raw(self, data: bytes) -> None:
        raise NotImplementedError

    def _idle_timeout(self) -> float | None:
        return None

    def _release(self) -> None:
        """Close the underlying descriptors."""

    # -- common
    @property
    def closing(self) -> bool:
        """True once `close()` was called."""
        return self._closing.is_set()

    def start(self, frontend: Frontend, on_exit: Callable[[Channel], None]) -> None:
        """Serve in a daemon thread."""
        self.frontend = frontend
        frontend.boot()  # before the port is handed out: a pty has no client yet, a socket peer sees the banner
        self._thread = threading.Thread(target=self._serve, args=(on_exit,), name=f"sim-{self.name}", daemon=True)
        self._thread.start()

    def _serve(self, on_exit: Callable[[Channel], None]) -> None:
        assert self.frontend is not None
        try:
            while not self.closing:
                ready = wait_fds([self._fileno(), self._wake_r], select.POLLIN, self._idle_timeout())
                if self.closing:
                    break
                if not ready:
                    continue
                data = self._read()
                if data is None:
                    break
                if not data:
                    continue
                if self.baud:
                    self.wait(len(data) * 10 / self.baud)
                with self.feed_lock:
                    self.frontend.feed(data)
        except OSError:
            pass  # the channel went away under us: nothing left to serve
        finally:
            on_exit(self)
            self.close()  # the peer left (or close() was called): release the descriptors either way

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up at once when the channel closes."""
        if seconds > 0:
            self._closing.wait(seconds)

    def write(self, data: bytes) -> None:
        """Send `data`, paced like a UART at `baud` (10 bits per byte)."""
        if self.closing:
            return
        with self._write_lock:
            if not self.baud:
                self._write_raw(data)
                return
            chunk = max(1, self.baud // 1000)  # ~10 ms slices
            for start in range(0, len(data), chunk):
                piece = data[start : start + chunk]
                self._write_raw(piece)
                self.wait(len(piece) * 10 / self.baud)
                if self.closing:
                    return

    def close(self) -> None:
        """Stop serving and release the descriptors (idempotent, safe from any thread including the served one)."""
        with self._close_lock:
            if self._closing.is_set():
                return
            self._closing.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._release()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


class PtyChannel(Channel):
    """The master side of a pseudo-terminal; clients open `path`. Survives clients closing and reopening."""

    name = "pty"

    def __init__(self, baud: int | None) -> None:
        super().__init__(baud)
        self.master, slave = os.openpty()
        tty.setraw(slave)  # the terminal settings live as long as the master: raw for every client
        self.path = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(self.master, False)
        self._client = False

    def _fileno(self) -> int:
        return self.master

    def _has_client(self) -> bool:
        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        events = poller.poll(0)
        hung_up = any(mask & select.POLLHUP for _, mask in events)
        if hung_up and self._client:
            termios.tcflush(self.master, termios.TCIOFLUSH)  # drop what the departed client left unread
        self._client = not hung_up
        return self._client

    def _idle_timeout(self) -> float | None:
        return None if self._client else NO_CLIENT_POLL_S

    def _read(self) -> bytes | None:
        if not self._has_client():
            self.wait(NO_CLIENT_POLL_S)
            return b""
        try:
            return os.read(self.master, READ_CHUNK)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:  # no slave open right now
                self._client = False
                return b""
            raise

    def _write_raw(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.closing:
            if not self._has_client():
                return  # nobody listens: a UART's bytes are lost too
            try:
                sent = os.write(self.master, view)
                view = view[sent:]
            except BlockingIOError:
                wait_fds([self.master], select.POLLOUT, NO_CLIENT_POLL_S)
            except OSError as exc:
                if exc.errno == errno.EIO:
                    return
                raise

    def _release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.master)


class SocketChannel(Channel):
    """One connected stream socket (TCP connection or the simulator end of a socketpair)."""

    name = "socket"
    SEND_TIMEOUT_S = 10.0

    def __init__(self, sock: socket.socket, baud: int | None) -> None:
        super().__init__(baud)
        self.sock = sock
        sock.setblocking(True)

    def _fileno(self) -> int:
        return self.sock.fileno()

    def _read(self) -> bytes | None:
        try:
            data = self.sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            return None
        return data if data else None

    def _write_raw(self, data: bytes) -> None:
        deadline = time.monotonic() + self.SEND_TIMEOUT_S
        view = memoryview(data)
        while view and not self.closing:
            if not wait_fds([self.sock.fileno()], select.POLLOUT, max(0.0, deadline - time.monotonic())):
                raise OSError(errno.ETIMEDOUT, "peer does not read")
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                continue

    def _release(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class TcpListener:
    """Accepts connections on HOST:PORT and hands each to `on_connection`."""

    def __init__(self, host: str, port: int, on_connection: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        self._on_connection = on_connection
        self._closing = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._accept_loop, name="sim-tcp-accept", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """`socket://HOST:PORT` for pyserial / `credwarden --port`."""
        return f"socket://{self.host}:{self.port}"

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            ready = wait_fds([self.sock.fileno(), self._wake_r], select.POLLIN, None)
            if self._closing.is_set():
                return
            if self.sock.fileno() in ready:
                try:
                    connection, _ = self.sock.accept()
                except OSError:
                    continue
                self._on_connection(connection)

    def close(self) -> None:
        """Stop accepting (open connections are closed by their channels)."""
        if self._closing.is_set():
            return
        self._closing.set()
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        self.sock.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
