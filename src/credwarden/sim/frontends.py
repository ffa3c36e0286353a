"""Application-core front-ends of the simulated modem: at_client, NCS shell `at`, SLM (modem-behaviour.md#front-ends).

A front-end turns received bytes into modem commands and modem replies into bytes on the wire, with the
framing, echo, buffers and quirks of the real firmware. It talks to the rest of the simulator through a
`Host` (execute a command, write bytes, wait, account).
"""

from __future__ import annotations

import time
from typing import Protocol

from credwarden.sim.config import SimConfig
from credwarden.sim.engine import Reply
from credwarden.sim.params import ParamError, Quoted, parse_params

BOOT_BANNER_SHELL = "*** Booting nRF Connect SDK ***\r\n"
SLM_READY = "Ready\r\n"
E2BIG = 7


class Host(Protocol):
    """What a front-end needs from the simulator and its serving channel."""

    config: SimConfig

    def execute(self, text: str) -> Reply:
        """Run one command on the modem (no delay applied, not accounted)."""

    def write(self, data: bytes) -> None:
        """Send bytes on the wire (throttled to the baud rate)."""

    def wait(self, seconds: float) -> None:
        """Let simulated processing time pass (interrupted by a stop)."""

    def account(
        self, text: str, bytes_in: int, bytes_out: int, started: float, processing: float, reply: Reply
    ) -> None:
        """Record one command."""

    def reboot(self) -> None:
        """Reboot the whole device (SLM `AT#XRESET`)."""

    def echo_enabled(self) -> bool:
        """The modem's ATE state."""


def _latin1(data: bytes | bytearray) -> str:
    return bytes(data).decode("latin-1")


class Frontend:
    """Base class: command execution with latency, output and accounting."""

    name = "frontend"

    def __init__(self, host: Host) -> None:
        self.host = host
        self.config = host.config
        self._bytes_in = 0

    def boot(self) -> None:
        """Reset line state and print the boot banner (if any)."""
        self._bytes_in = 0

    def feed(self, data: bytes) -> None:
        """Process received bytes."""
        raise NotImplementedError

    def run(self, text: str, *, log_text: str | None = None) -> Reply:
        """Execute `text` on the modem, wait its processing time, send the rendered answer, account it."""
        started = time.time()
        clock = time.monotonic()
        reply = self.host.execute(text)
        self.complete(log_text if log_text is not None else text, reply, started, clock)
        return reply

    def complete(self, log_text: str, reply: Reply, started: float, clock: float) -> None:
        """Account for `reply`, then send it after its delay.

        The record is added before the first byte of the answer leaves, so whoever has read the answer also sees
        the record; `processing_s` is the modem's own time, without the answer's time on the wire.
        """
        out = b"" if reply.silent else self.render(reply)
        if reply.delay > 0:
            self.host.wait(reply.delay)
        self.host.account(log_text, self._bytes_in, len(out), started, time.monotonic() - clock, reply)
        self._bytes_in = 0
        if out:
            self.host.write(out)

    def render(self, reply: Reply) -> bytes:
        """Wire bytes of a reply."""
        raise NotImplementedError


class AtClientFrontend(Frontend):
    """NCS `at_client` sample (modem-behaviour.md#at-host): no echo, quote-aware termination, verbatim answers."""

    name = "at_client"

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.termination = self.config.line_termination()
        self.capacity = self.config.at_buffer - 1  # one byte kept for the NUL
        self.buffer = bytearray()
        self.inside_quotes = False

    def boot(self) -> None:
        super().boot()
        self.buffer.clear()
        self.inside_quotes = False

    def feed(self, data: bytes) -> None:
        for byte in data:
            self._bytes_in += 1
            if byte in (0x08, 0x7F):
                if self.buffer:
                    self.buffer.pop()
                continue
            if byte == 0 and self.termination != "null":
                continue  # "Ignored null; would terminate string early."
            if byte == 0x22:
                self.inside_quotes = not self.inside_quotes
            if not self.inside_quotes and self._terminates(byte):
                self._dispatch()
                continue
            if len(self.buffer) >= self.capacity:
                continue  # "Buffer overflow, dropping '%c'" (nothing is sent to the host)
            self.buffer.append(byte)

    def _terminates(self, byte: int) -> bool:
        mode = self.termination
        if mode == "cr":
            return byte == 0x0D
        if mode == "lf":
            return byte == 0x0A
        if mode == "null":
            return byte == 0
        return byte == 0x0A and self.buffer.endswith(b"\r")  # CR+LF: the CR stays in the command

    def _dispatch(self) -> None:
        line = bytes(self.buffer)
        self.buffer.clear()
        self.inside_quotes = False
        if not any(0x21 <= b <= 0x7E for b in line):
            return  # nothing printable: dropped silently (the LF of a CR LF pair)
        self.run(_latin1(line))

    def render(self, reply: Reply) -> bytes:
        text = reply.modem_text()
        limit = self.capacity
        urc_final = reply.urc_before_final
        if urc_final is not None and reply.final is not None:
            head = "".join(line + "\r\n" for line in reply.lines)
            text = head + urc_final + "\r\n" + reply.final + "\r\n"
        if len(text) > limit:
            # -NRF_E2BIG: at_host prints what the buffer holds, no final result (modem-behaviour.md#at-host)
            text = reply.modem_text()[:limit]
        if reply.urc_before is not None:
            text = reply.urc_before + "\r\n" + text
        return text.encode("latin-1")


def shell_argv(line: str) -> list[str]:
    """Split a shell line like Zephyr's shell: quotes group, `\\'` / `\\"` inside quotes, `\\x` outside.

    ValueError("not terminated: <q>") for an unterminated quote.
    """
    argv: list[str] = []
    current: list[str] = []
    in_token = False
    quote: str | None = None
    index = 0
    while index < len(line):
        char = line[index]
        if quote is not None:
            if char == "\\" and index + 1 < len(line) and line[index + 1] == quote:
                current.append(quote)
                index += 2
                continue
            if char == quote:
                quote = None
            else:
                current.append(char)
            index += 1
            continue
        if char in "'\"":
            quote = char
            in_token = True
        elif char == "\\" and index + 1 < len(line):
            current.append(line[index + 1])
            in_token = True
            index += 1
        elif char in " \t":
            if in_token:
                argv.append("".join(current))
                current, in_token = [], False
        else:
            current.append(char)
            in_token = True
        index += 1
    if quote is not None:
        raise ValueError(f"not terminated: {quote}")
    if in_token:
        argv.append("".join(current))
    return argv


def _next_escape_state(state: str, byte: int) -> str | None:
    """Zephyr's shell key decoder (modem-behaviour.md#ncs-shell): ESC takes one more byte, `ESC [` one more,
    and `ESC [ 1`..`4` (Home/Insert/Delete/End) the `~` after it; any byte ends the sequence, CR and LF too."""
    if state == "esc":
        return "csi" if byte == 0x5B else None
    if state == "csi" and byte in b"1234":
        return "tilde"
    return None


class ShellFrontend(Frontend):
    """NCS shell `at` (modem-behaviour.md#ncs-shell): echo, Zephyr argv, `\\n` unescape for `AT%CMNG=0`, prompt."""

    name = "shell"

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.buffer = bytearray()
        self.last_was_cr = False
        self.escape: str | None = None  # "esc" after ESC, "csi" after ESC [, "tilde" after ESC [ 1..4
        plain = "uart:~$ "
        self.prompt = f"\x1b[1;32m{plain}\x1b[m" if self.config.shell_color else plain

    def boot(self) -> None:
        super().boot()
        self.buffer.clear()
        self.last_was_cr = False
        self.escape = None
        self.host.write((BOOT_BANNER_SHELL + self.prompt).encode("latin-1"))

    def feed(self, data: bytes) -> None:
        for byte in data:
            self._bytes_in += 1
            if self.escape is not None:  # VT100 key from the terminal (arrows ...): consumed, never typed
                self.escape = _next_escape_state(self.escape, byte)
                continue
            if byte == 0x1B:
                self.escape = "esc"
                continue
            if byte in (0x0D, 0x0A):
                if byte == 0x0A and self.last_was_cr:
                    self.last_was_cr = False
                    continue
                self.last_was_cr = byte == 0x0D
                self.host.write(b"\r\n")
                self._line(_latin1(self.buffer))
                self.buffer.clear()
                continue
            self.last_was_cr = False
            if byte in (0x08, 0x7F):
                if self.buffer:
                    self.buffer.pop()
                    self.host.write(b"\x08 \x08")
                continue
            if byte < 0x20:
                continue
            if len(self.buffer) >= self.config.shell_line_buffer - 1:
                continue
            self.buffer.append(byte)
            self.host.write(bytes([byte]))

    def _print(self, text: str) -> None:
        self.host.write((text + self.prompt).encode("latin-1"))
        self._bytes_in = 0

    def _line(self, line: str) -> None:
        try:
            argv = shell_argv(line)
        except ValueError as exc:
            self._print(f"{exc}\r\n")
            return
        if not argv:
            self._print("")
            return
        word = argv[0]
        if word == "help":
            self._print("Available commands:\r\n  at    : Execute an AT command\r\n  help  : Prints the help.\r\n")
            return
        if word != "at":
            self._print(f"{word}: command not found\r\n")
            return
        if len(argv) < 2:
            self._print("at: wrong parameter count\r\n")
            return
        if argv[1] == "events_enable":
            self._print("AT command event handler enabled\r\n")
            return
        if argv[1] == "events_disable":
            self._print("AT command event handler disabled\r\n")
            return
        command = argv[1]
        if self.config.shell_unescape_lf and command.startswith("AT%CMNG=0"):
            command = command.replace("\\n", "\r\n")
        self.run(command)

    def render(self, reply: Reply) -> bytes:
        text = reply.modem_text()
        if reply.urc_before_final is not None and reply.final is not None:
            head = "".join(line + "\r\n" for line in reply.lines)
            text = head + reply.urc_before_final + "\r\n" + reply.final + "\r\n"
        if reply.final is None:
            out = text  # the modem never finished: no prompt
        elif len(text) > self.config.shell_response_max - 1:
            out = f"Sending AT command failed with error code -{E2BIG}\r\n" + self.prompt
        else:
            out = text + "\r\n" + self.prompt
        if reply.urc_before is not None:
            out = reply.urc_before + "\r\n" + out
        return out.encode("latin-1")


class SlmFrontend(Frontend):
    """SLM: `Ready` banner, `\\r\\n` framing, ATE echo, `#XRESET`, `#XCMNG` gen 2 (modem-behaviour.md#slm, #xcmng)."""

    name = "slm"
    MAX_SLM_SEC_TAG = 2_147_483_647 // 10

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.termination = self.config.line_termination()
        self.capacity = self.config.at_buffer
        self.buffer = bytearray()
        self.inside_quotes = False
        self.overflow = False

    def boot(self) -> None:
        super().boot()
        self.buffer.clear()
        self.inside_quotes = False
        self.overflow = False
        self.host.write(SLM_READY.encode())

    def feed(self, data: bytes) -> None:
        for byte in data:
            self._bytes_in += 1
            if byte == 0x22:
                self.inside_quotes = not self.inside_quotes
            if not self.inside_quotes and self._terminates(byte):
                line = bytes(self.buffer)
                if self.termination == "crlf":
                    line = line[:-1]
                self.buffer.clear()
                self.inside_quotes = False
                self._line(line, terminator=b"\r\n" if self.termination == "crlf" else bytes([byte]))
                continue
            if len(self.buffer) >= self.capacity:
                self.overflow = True
                continue
            self.buffer.append(byte)

    def _terminates(self, byte: int) -> bool:
        if self.termination == "cr":
            return byte == 0x0D
        if self.termination == "lf":
            return byte == 0x0A
        if self.termination == "null":
            return byte == 0
        return byte == 0x0A and self.buffer.endswith(b"\r")

    def _line(self, line: bytes, *, terminator: bytes) -> None:
        overflow, self.overflow = self.overflow, False
        start = line.upper().find(b"AT")
        if start < 0:
            self._bytes_in = 0
            return  # no command in the line: skipped like the SM grammar check
        command = _latin1(line[start:])
        if self.host.echo_enabled():
            self.host.write(line[start:] + terminator)
        if overflow:
            self.complete(command, Reply(final="ERROR"), time.time(), time.monotonic())
            return
        upper = command.upper().rstrip()
        if upper == "AT#XRESET":
            self.complete(command, Reply(), time.time(), time.monotonic())
            self.host.reboot()
            return
        if upper.startswith("AT#XCMNG") and self.config.slm_xcmng:
            self._xcmng(command)
            return
        self.run(command)

    def render(self, reply: Reply) -> bytes:
        parts: list[str] = []
        if reply.urc_before is not None:
            parts.append("\r\n" + reply.urc_before + "\r\n")
        if reply.lines:
            parts.append("\r\n" + "".join(line + "\r\n" for line in reply.lines))
        if reply.urc_before_final is not None and reply.final is not None:
            parts.append("\r\n" + reply.urc_before_final + "\r\n")
        if reply.final is not None:
            parts.append("\r\n" + reply.final + "\r\n")
        return "".join(parts).encode("latin-1")

    # ----------------------------------------------------------------- AT#XCMNG (gen 2: modem-backed)
    def _xcmng(self, command: str) -> None:
        started, clock = time.time(), time.monotonic()
        reply = self._xcmng_reply(command)
        self.complete(command, reply, started, clock)

    def _xcmng_reply(self, command: str) -> Reply:
        """Map `AT#XCMNG=<op>,<tag>,<type>[,<content>]` onto modem tag `tag*10+type`, type 0 (modem-behaviour.md#xcmng).

        The mapping is the one of SLM's second native-TLS generation.
        """
        head, _, raw = command.partition("=")
        if head.strip().upper() != "AT#XCMNG" or not raw or raw.strip() == "?":
            return Reply(final="ERROR")
        try:
            params = parse_params(raw.rstrip("\r\n"))
        except ParamError:
            return Reply(final="ERROR")
        numbers = [p for p in params[:3] if isinstance(p, int)]
        if len(params) < 3 or len(numbers) != 3:
            return Reply(final="ERROR")
        opcode, tag, type_code = numbers
        if opcode not in (0, 2, 3) or tag > self.MAX_SLM_SEC_TAG or type_code > 4:
            return Reply(final="ERROR")
        mapped = tag * 10 + type_code
        if opcode == 0:
            if len(params) != 4 or not isinstance(params[3], Quoted):
                return Reply(final="ERROR")
            inner = self.host.execute(f'AT%CMNG=0,{mapped},0,"{params[3].text}"')
            return self._mapped(inner, [])
        if len(params) != 3:
            return Reply(final="ERROR")
        if opcode == 3:
            return self._mapped(self.host.execute(f"AT%CMNG=3,{mapped},0"), [])
        if type_code not in (0, 4):
            return Reply(final="ERROR")
        inner = self.host.execute(f"AT%CMNG=2,{mapped},0")
        lines: list[str] = []
        if inner.final == "OK" and inner.lines:
            pieces = inner.lines[0].split('"')
            content = pieces[3] if len(pieces) > 4 else ""
            lines = [f'%CMNG: {tag},{type_code},"","{content}"']
        return self._mapped(inner, lines)

    @staticmethod
    def _mapped(inner: Reply, lines: list[str]) -> Reply:
        if inner.silent or inner.final is None:
            return Reply(final=None, silent=inner.silent, nvm_write=inner.nvm_write, delay=inner.delay, lost=inner.lost)
        ok = inner.final == "OK"
        return Reply(lines if ok else [], "OK" if ok else "ERROR", nvm_write=inner.nvm_write, delay=inner.delay)


def make_frontend(host: Host) -> Frontend:
    """The front-end the configuration names."""
    kinds: dict[str, type[Frontend]] = {"at_client": AtClientFrontend, "shell": ShellFrontend, "slm": SlmFrontend}
    return kinds[host.config.frontend](host)
