"""The three firmware front-ends a modem is reached through, and their detection (modem-behaviour.md#front-ends).

* `at_client` (NCS AT host): no echo, `cmd\\r\\n` in, the modem's answer verbatim out.
* `shell` (NCS shell `at` command): `at '<cmd>'`, echo of the typed line, ANSI-coloured `uart:~$ ` prompt.
* `slm` (Serial LTE Modem / Serial Modem): `Ready` banner, answers framed `\\r\\n<info>\\r\\n\\r\\nOK\\r\\n`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from credwarden.errors import DeviceTimeout, TransportError, UsageError
from credwarden.transport.base import Transport
from credwarden.types import DIALECTS

SHELL_PROMPT = "uart:~$ "
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """Remove VT100/ANSI escape sequences."""
    return _ANSI.sub("", text)


@dataclass(frozen=True)
class Dialect:
    """Framing rules of one front-end."""

    name: str
    #: shell only: the firmware turns the two characters `\n` into CR LF for `AT%CMNG=0` (CONFIG_AT_SHELL_UNESCAPE_LF)
    unescape_lf: bool = True

    def encode(self, command: str) -> bytes:
        """The bytes to send for `command`."""
        if self.name == "shell":
            escaped = command.replace("\r", "").replace("\n", "\\n").replace("'", "\\'")
            return f"at '{escaped}'\r\n".encode("latin-1")
        return f"{command}\r\n".encode("latin-1")

    def echo_of(self, command: str) -> str:
        """What an echoing front-end prints back for `command` (first line, after cleaning)."""
        return self.encode(command).decode("latin-1").rstrip("\r\n")

    def clean_line(self, line: str) -> str:
        """A received line without ANSI escapes and (shell) without a leading prompt."""
        if self.name != "shell":
            return line
        text = strip_ansi(line)
        while text.startswith(SHELL_PROMPT) or text.startswith(SHELL_PROMPT.rstrip()):
            text = text[len(SHELL_PROMPT) :] if text.startswith(SHELL_PROMPT) else text[len(SHELL_PROMPT) - 1 :]
        return text

    def is_echo(self, line: str, command: str) -> bool:
        """True when `line` is the front-end echoing the command back."""
        text = line.strip()
        if text == command.strip():
            return True
        return self.name == "shell" and (text == self.echo_of(command) or text.startswith("at '"))

    def shell_failure(self, line: str) -> str | None:
        """A shell-level failure line (no modem answer will follow), else None."""
        if self.name != "shell":
            return None
        text = line.strip()
        if text.startswith("Sending AT command failed"):
            hint = ""
            if text.rstrip().endswith(("-7", "-E2BIG")):
                hint = (
                    "; the answer is larger than the shell's response buffer (CONFIG_AT_SHELL_CMD_RESPONSE_MAX_LEN, "
                    "2700 bytes by default): list one sec_tag at a time (--tag), raise the buffer, or use the AT host"
                )
            return f"the shell could not pass the command to the modem: {text}{hint}"
        if text.endswith("command not found"):
            return f"the shell has no `at` command ({text}); build the firmware with CONFIG_AT_SHELL=y"
        return None

    def foreign_mode(self, line: str) -> str | None:
        """The `--mode` a line betrays when it cannot come from this front-end (a wrong `--mode`), else None."""
        if self.name != "shell" and (line.endswith("command not found") or line.startswith(SHELL_PROMPT.strip())):
            return "shell"
        return None

    def answer_too_large(self, line: str) -> bool:
        """True for the shell's refusal of an answer larger than its response buffer (`-7` = E2BIG)."""
        text = line.strip()
        return self.name == "shell" and text.startswith("Sending AT command failed") and text.endswith(("-7", "-E2BIG"))

    def stored_form(self, content: bytes) -> bytes:
        """The bytes the modem stores for `content` written through this front-end (digest prediction)."""
        if self.name == "shell" and self.unescape_lf:
            return content.replace(b"\r", b"").replace(b"\n", b"\r\n")
        return content


def dialect_named(name: str, *, unescape_lf: bool = True) -> Dialect:
    """The Dialect for `at_client`, `shell` or `slm`."""
    if name not in DIALECTS:
        raise UsageError(f"unknown dialect {name!r}; use one of {', '.join(DIALECTS)}")
    return Dialect(name, unescape_lf=unescape_lf)


#: The first command of a session: decides the dialect and reads the numeric-error setting in one exchange.
PROBE_COMMAND = "AT+CMEE?"
_PROBE_INFO = "+CMEE:"


@dataclass(frozen=True)
class ProbeAnswer:
    """What the first command told: the dialect, `+CMEE` when the answer carried it, and whether it ended."""

    dialect: str
    cmee: int | None = None
    complete: bool = True  #: its final result arrived (False: lost; the `+CMEE:` line alone decided)


def classify_probe_answer(data: bytes) -> ProbeAnswer | None:
    """Which dialect produced `data` in answer to `AT+CMEE?\\r\\n` (or a bare `AT`); None while undecided.

    The NCS shell does not know `AT+CMEE?` as a shell command (`command not found`, prompt); the AT host answers
    `+CMEE: n` then `OK`; SLM frames each line with a leading CR LF. The information line alone decides the
    framing, so a lost final result does not stop detection (`complete` is False then).
    """
    text = strip_ansi(data.decode("latin-1"))
    if "command not found" in text or SHELL_PROMPT.strip() in text:
        return ProbeAnswer("shell", None, True)
    lines = text.split("\n")
    cmee: int | None = None
    dialect: str | None = None
    for index, raw in enumerate(lines[:-1]):  # complete lines only
        line = raw.rstrip("\r")
        is_info = line.startswith(_PROBE_INFO)
        if not is_info and line not in ("OK", "ERROR") and not line.startswith("+CME ERROR"):
            continue
        if dialect is None:
            previous = lines[index - 1].rstrip("\r") if index > 0 else None
            dialect = "slm" if previous == "" else "at_client"  # SLM frames every line with a leading CR LF
        if is_info:
            digits = line[len(_PROBE_INFO) :].strip()
            cmee = int(digits) if digits.isdigit() else None
            continue
        return ProbeAnswer(dialect, cmee, True)
    if dialect is not None:
        return ProbeAnswer(dialect, cmee, False)
    return None


def probe_dialect(transport: Transport, timeout: float = 2.0, quiet: float = 0.3) -> ProbeAnswer:
    """Send `AT+CMEE?` and decide from the answer.

    DeviceTimeout with advice for a silent device; TransportError (with what was heard) for a port that only
    echoes or answers something that is not AT. When the `+CMEE:` line came but its final result did not within
    `quiet` seconds, the final is taken as lost (`complete=False`).
    """
    probe = f"{PROBE_COMMAND}\r\n".encode()
    transport.reset_input()
    transport.write(probe)
    deadline = time.monotonic() + timeout
    received = b""
    decided: ProbeAnswer | None = None
    last = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= deadline or (decided is not None and now - last >= quiet):
            break
        wait = deadline - now if decided is None else min(deadline - now, quiet - (now - last))
        chunk = transport.read(4096, max(0.0, wait))
        if not chunk:
            continue
        received += chunk
        last = time.monotonic()
        decided = classify_probe_answer(received)
        if decided is not None and decided.dialect == "shell":
            _wait_for_prompt(transport, received, deadline)
            return decided
        if decided is not None and decided.complete:
            return decided
    if decided is not None:
        return decided
    if received:
        raise TransportError(not_a_modem(transport.name, PROBE_COMMAND, received, probe))
    raise DeviceTimeout(
        f"no answer to {PROBE_COMMAND} on {transport.name} within {timeout:g} s: check the port, the baud rate, that "
        "the board is powered and runs firmware exposing AT commands (at_client, NCS shell or Serial LTE Modem)",
        command=PROBE_COMMAND,
        timeout=timeout,
    )


def detect_dialect(transport: Transport, timeout: float = 2.0) -> str:
    """The dialect of the device on `transport` (see `probe_dialect`)."""
    return probe_dialect(transport, timeout).dialect


def is_plain_echo(received: bytes | str, sent: bytes | str) -> bool:
    """True when everything `received` is (the start of) the `sent` bytes coming back: a loopback or a terminal."""
    got = received.decode("latin-1") if isinstance(received, bytes) else received
    out = sent.decode("latin-1") if isinstance(sent, bytes) else sent
    heard, said = "".join(got.split()), "".join(out.split())
    return bool(heard) and said.startswith(heard)


def not_a_modem(port: str, command: str, received: bytes | str, sent: bytes | str) -> str:
    """The message for a port whose answer is not an AT answer (echo only, or noise), with what was heard."""
    text = received.decode("latin-1") if isinstance(received, bytes) else received
    heard = text[:80]
    if is_plain_echo(received, sent):
        return (
            f"{port} sends back what it is sent ({heard!r}) and nothing answers {command}: this is a loopback or an "
            "echoing terminal, not a modem's AT interface; check that the port is the modem's application UART"
        )
    return (
        f"{port} answered {heard!r} to {command}, which is not an AT host, NCS shell or Serial LTE Modem answer: "
        "check the baud rate and that this is the modem's application UART, or give --mode"
    )


def _wait_for_prompt(transport: Transport, received: bytes, deadline: float) -> None:
    """Consume the rest of the shell's answer up to its prompt (bounded by `deadline`)."""
    while not strip_ansi(received.decode("latin-1")).rstrip().endswith(SHELL_PROMPT.strip()):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        chunk = transport.read(4096, remaining)
        if chunk:
            received += chunk
