"""`SimModem`: the simulated nRF91 modem with its NVM state, front-ends, faults, accounting and serving API."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import TracebackType

from credwarden.sim.accounting import Accounting, CommandRecord, command_kind, redact_command
from credwarden.sim.config import SimConfig
from credwarden.sim.engine import ModemEngine, RamState, Reply
from credwarden.sim.faults import Faults
from credwarden.sim.frontends import Frontend, make_frontend
from credwarden.sim.identity import DEFAULT_IDENTITY, Identity, generate_identity
from credwarden.sim.server import Channel, PtyChannel, SocketChannel, TcpListener
from credwarden.sim.store import CredentialStore

_REBOOT_LOCK_TIMEOUT_S = 2.0  #: longest `restart()` waits for a channel to finish the chunk it is processing


class _ChannelHost:
    """Connects one channel's front-end to the shared modem (implements `frontends.Host`)."""

    def __init__(self, sim: SimModem, channel: Channel) -> None:
        self.sim = sim
        self.channel = channel
        self.config = sim.config

    def execute(self, text: str) -> Reply:
        return self.sim.engine.execute(text)

    def write(self, data: bytes) -> None:
        self.channel.write(data)

    def wait(self, seconds: float) -> None:
        if not self.config.fast:
            self.channel.wait(seconds)

    def account(
        self, text: str, bytes_in: int, bytes_out: int, started: float, processing: float, reply: Reply
    ) -> None:
        self.sim.accounting.add(
            CommandRecord(
                t_start=started,
                t_end=time.time(),
                command=redact_command(text.rstrip("\r\n")),
                kind=command_kind(text),
                bytes_in=bytes_in,
                bytes_out=bytes_out,
                processing_s=round(processing, 6),
                nvm_write=reply.nvm_write,
                result=reply.final if reply.final is not None else "none",
                frontend=self.config.frontend,
                baud=self.config.baud,
            )
        )

    def reboot(self) -> None:
        self.sim.restart()

    def echo_enabled(self) -> bool:
        return self.sim.engine.ram.echo


class SimModem:
    """A simulated nRF91 modem (docs/architecture.md, "Simulator").

    >>> sim = SimModem(SimConfig(profile="2.0.2", fast=True))
    >>> with sim.serve_pty() as path: ...          # doctest: +SKIP
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = (config or SimConfig()).validate()
        self.faults = Faults()
        self.rng = random.Random(self.config.seed)
        self.store = CredentialStore.load(self.config.state_file)
        self.identity = self._resolve_identity()
        profile = self.config.firmware_profile()
        #: the effective configuration: identity and build UUID filled in (`sim.config.imei` is this board's IMEI)
        self.config = replace(
            self.config,
            imei=self.identity.imei,
            device_uuid=self.identity.device_uuid,
            build_uuid=profile.build_uuid,
        )
        self.engine = ModemEngine(self.config, self.identity, self.store, self.faults, self.rng)
        self.accounting = Accounting(self.config.log_file)
        self._channels: list[Channel] = []
        self._listeners: list[TcpListener] = []
        self._lock = threading.Lock()
        self._stopped = False

    def _resolve_identity(self) -> Identity:
        """The state file's identity (created and saved on first use), else the default; overrides on top."""
        overrides = {"imei": self.config.imei, "device_uuid": self.config.device_uuid}
        if self.store.path is None:
            return DEFAULT_IDENTITY.with_overrides(**overrides)
        with self.store.lock:
            if self.store.identity is None:
                self.store.identity = generate_identity().with_overrides(**overrides)
                self.store.save()
                return self.store.identity
        return self.store.identity.with_overrides(**overrides)

    # ------------------------------------------------------------------ state
    @property
    def ram(self) -> RamState:
        """The modem's RAM state (CFUN, CMEE, echo, power-off warning)."""
        return self.engine.ram

    @property
    def active_channels(self) -> int:
        """How many connections / ptys are being served right now."""
        with self._lock:
            return len(self._channels)

    @property
    def profile_name(self) -> str:
        """Firmware version modelled."""
        return self.engine.profile.name

    def execute(self, command: str) -> str:
        """Run one command directly on the modem (no front-end) and return its text; for tests and scripts."""
        return self.engine.execute(command).modem_text()

    def restart(self) -> None:
        """Reboot: RAM state resets, the store stays, every front-end prints its boot banner again."""
        self.faults.validate()
        self.engine.reboot()
        with self._lock:
            channels = list(self._channels)
        for channel in channels:
            # wait for a chunk being processed to finish (bounded: two channels rebooting each other must not
            # deadlock); the banner and cleared line state then apply from the next chunk on
            locked = channel.feed_lock.acquire(timeout=_REBOOT_LOCK_TIMEOUT_S)
            try:
                if channel.frontend is not None and not channel.closing:
                    channel.frontend.boot()
            finally:
                if locked:
                    channel.feed_lock.release()

    # ------------------------------------------------------------------ serving
    def _attach(self, channel: Channel) -> Frontend:
        if self._stopped:
            channel.close()
            raise RuntimeError("the simulator was stopped")
        frontend = make_frontend(_ChannelHost(self, channel))
        with self._lock:
            self._channels.append(channel)
        channel.start(frontend, self._detach)
        return frontend

    def _detach(self, channel: Channel) -> None:
        with self._lock:
            if channel in self._channels:
                self._channels.remove(channel)

    @contextmanager
    def serve_pty(self) -> Iterator[str]:
        """Serve on a new pseudo-terminal in a background thread; yields the device path to open."""
        channel = PtyChannel(self.config.baud)
        self._attach(channel)
        try:
            yield channel.path
        finally:
            channel.close()
            self._detach(channel)

    @contextmanager
    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve TCP connections on HOST:PORT (0 = any free port); yields `socket://HOST:PORT`."""
        listener = TcpListener(host, port, self._serve_socket)
        self._listeners.append(listener)
        try:
            yield listener.url
        finally:
            listener.close()
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _serve_socket(self, sock: socket.socket) -> None:
        try:
            self._attach(SocketChannel(sock, self.config.baud))
        except RuntimeError:
            sock.close()

    def open_socket(self) -> socket.socket:
        """The client end of a socketpair served by this simulator (same serving loop as a pty); the client side
        wraps it in a Transport (`credwarden.transport.simulated.inprocess`)."""
        ours, theirs = socket.socketpair()
        self._attach(SocketChannel(ours, self.config.baud))
        return theirs

    def stop(self) -> None:
        """Stop serving everything, save the state, close the log (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        for listener in list(self._listeners):
            listener.close()
        with self._lock:
            channels = list(self._channels)
        for channel in channels:
            channel.close()
        self.store.save()
        self.accounting.close()

    def __enter__(self) -> SimModem:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
