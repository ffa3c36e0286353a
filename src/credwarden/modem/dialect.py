"""The three firmware front-ends a modem is reached through, and their detection (modem-behaviour.md#front-ends).

* `at_client` (NCS AT host): no echo, `cmd\\r\\n` in, the modem's answer verbatim out.
* `shell` (NCS shell `at` command): `at '<cmd>'`, echo of the typed line, ANSI-coloured `uart:~$ ` prompt.
* `slm` (Serial LTE Modem / Serial Modem): `Ready` banner, answers framed `\\r\\n<info>\\r\\n\\r\\nOK\\r\\n`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from credwarden.errors import DeviceTimeout, ProtocolError, UsageError
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


def classify_probe_answer(data: bytes) -> str | None:
    """Which dialect produced `data` in answer to `AT\\r\\n`; None while undecided (wait for more)."""
    text = strip_ansi(data.decode("latin-1"))
    if "command not found" in text or SHELL_PROMPT.strip() in text:
        return "shell"
    lines = text.split("\n")
    for index, raw in enumerate(lines[:-1]):  # complete lines only
        if raw.rstrip("\r") not in ("OK", "ERROR"):
            continue
        previous = lines[index - 1].rstrip("\r") if index > 0 else None
        if previous == "":
            return "slm"  # SLM frames every answer with a leading CR LF
        return "at_client"
    return None


def detect_dialect(transport: Transport, timeout: float = 2.0) -> str:
    """Send one `AT\\r\\n` and decide from the answer; DeviceTimeout with advice for a silent device."""
    transport.reset_input()
    transport.write(b"AT\r\n")
    deadline = time.monotonic() + timeout
    received = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        chunk = transport.read(4096, remaining)
        if not chunk:
            continue
        received += chunk
        decided = classify_probe_answer(received)
        if decided == "shell":
            _wait_for_prompt(transport, received, deadline)
            return decided
        if decided is not None:
            return decided
    if received:
        shown = received[:80].decode("latin-1")
        raise ProtocolError(
            f"{transport.name} answered {shown!r} to AT, which is not an AT host, NCS shell or SLM answer; "
            "check the baud rate and that this is the modem's application UART, or give --mode"
        )
    raise DeviceTimeout(
        f"no answer to AT on {transport.name} within {timeout:g} s: check the port, the baud rate, that the "
        "board is powered and runs firmware exposing AT commands (at_client, NCS shell or Serial LTE Modem)",
        command="AT",
        timeout=timeout,
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
