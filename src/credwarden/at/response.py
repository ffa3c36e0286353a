"""AT response framing and classification (sans-I/O): lines, final results, URCs, answers to one command.

A line ends at LF (a CR before it is dropped). Lines that carry quoted content which may span CR/LF
(`%CMNG:` read answers) are only complete when their quotes balance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

#: Lines whose quoted field may contain raw CR/LF (read answers, modem-behaviour.md#answer-shapes).
MULTILINE_PREFIXES: tuple[str, ...] = ("%CMNG:", "#XCMNG:", "%XPMNG:")
#: A quote-balanced line that grows past this is closed anyway (protects against garbage).
MAX_MULTILINE_CHARS = 64 * 1024

#: Unsolicited result codes the nRF91 and its host firmware emit (never an answer to another command).
URC_PREFIXES: tuple[str, ...] = (
    "+CEREG:",
    "+CGEV:",
    "+CSCON:",
    "+CNEC_",
    "+CIREG:",
    "+CMT:",
    "+CDS:",
    "%CESQ:",
    "%XPOFWARN",
    "%MDMEV:",
    "%XSIM:",
    "%XTIME:",
    "%XMODEMSLEEP:",
    "%XT3412:",
    "%NCELLMEAS:",
    "%XVBATLOWLVL:",
    "%XBATTERY",
    "%MDMEV",
    "#XGPS:",
    "#XSMS:",
)
#: Boot banners: seeing one mid-session means the device restarted (SLM `Ready`, SM `INIT ERROR`).
BOOT_BANNERS: frozenset[str] = frozenset({"Ready", "INIT ERROR"})
#: The Zephyr / NCS boot line printed before `main()` (shell, and at_client when it shares the console UART):
#: `*** Booting nRF Connect SDK v2.6.0 ***`, `*** Booting Zephyr OS build v3.5.99-ncs1 ***`.
BOOT_LINE = re.compile(r"^\*\*\* Booting (?:nRF Connect SDK|Zephyr OS)\b.*\*\*\*$")

_CME = re.compile(r"^\+(CME|CMS) ERROR:\s*(\d+)\s*$")
_PREFIXED = re.compile(r"^[+%#][A-Z0-9_]+:")
_COMMAND_NAME = re.compile(r"^AT([+%#][A-Z0-9_]+)", re.IGNORECASE)


class FinalKind(Enum):
    """How a command ended."""

    OK = "OK"
    ERROR = "ERROR"
    CME = "CME"
    CMS = "CMS"


@dataclass(frozen=True)
class FinalResult:
    """A final result code line."""

    kind: FinalKind
    code: int | None
    line: str

    @property
    def ok(self) -> bool:
        return self.kind is FinalKind.OK


def parse_final(line: str) -> FinalResult | None:
    """`OK`, `ERROR`, `+CME ERROR: n`, `+CMS ERROR: n` -> FinalResult; anything else -> None."""
    text = line.strip()
    if text == "OK":
        return FinalResult(FinalKind.OK, None, text)
    if text == "ERROR":
        return FinalResult(FinalKind.ERROR, None, text)
    match = _CME.match(text)
    if match:
        kind = FinalKind.CME if match.group(1) == "CME" else FinalKind.CMS
        return FinalResult(kind, int(match.group(2)), text)
    return None


def response_prefix(command: str) -> str | None:
    """The information-line prefix a command answers with (`%CMNG:` for `AT%CMNG=1`), None for bare answers.

    `AT+CGSN`, `AT+CGMR`, `AT+CGMM`, `AT+CGMI` answer with bare lines (no prefix) unless given parameters.
    """
    match = _COMMAND_NAME.match(command.strip())
    if match is None:
        return None
    name = match.group(1).upper()
    rest = command.strip()[match.end() :]
    if name in ("+CGSN", "+CGMR", "+CGMM", "+CGMI", "+CIMI") and not rest.startswith("="):
        return None
    if name == "+CGSN" and rest.strip() in ("=0", ""):
        return None
    return f"{name}:"


#: Action commands that only read (their answer is the same whether sent once or twice).
_READ_ACTIONS: frozenset[str] = frozenset(
    {
        "+CGSN",
        "+CGMR",
        "+CGMM",
        "+CGMI",
        "+CIMI",
        "+CESQ",
        "%XICCID",
        "%XMODEMUUID",
        "%DEVICEUUID",
        "%SHORTSWVER",
        "%ATTESTTOKEN",
        "%CERTEXPIRY",
    }
)
#: `%CMNG` / `#XCMNG` opcodes that only read: 1 list, 2 read.
_READ_OPCODES = re.compile(r"^AT(?:%CMNG|#XCMNG)=\s*[12]\s*(?:,|$)", re.IGNORECASE)


def is_idempotent(command: str) -> bool:
    """True for commands that only read (queries, `%CMNG` list/read, identity reads): sending one twice is harmless,
    so a lost answer may be retried. Writes, deletes, key generation and settings are not (their state is read
    again before any retry)."""
    text = command.strip()
    upper = text.upper()
    if upper == "AT" or upper.endswith("?"):  # `AT`, `AT+CFUN?`, `AT+CFUN=?`
        return True
    if _READ_OPCODES.match(text):
        return True
    match = _COMMAND_NAME.match(text)
    if match is None:
        return False
    rest = text[match.end() :].strip()
    name = match.group(1).upper()
    return name in _READ_ACTIONS and (rest == "" or name in ("+CGSN", "%CERTEXPIRY"))


def is_boot_banner(line: str) -> bool:
    """True for a line only a (re)booting device prints: SLM/SM banners and the Zephyr/NCS boot line."""
    text = line.strip()
    return text in BOOT_BANNERS or BOOT_LINE.match(text) is not None


def is_unsolicited(line: str, expected_prefix: str | None) -> bool:
    """True when `line` cannot be part of the answer to a command expecting `expected_prefix`."""
    text = line.strip()
    if expected_prefix is not None and text.upper().startswith(expected_prefix.upper()):
        return False
    if is_boot_banner(text) or text.startswith(URC_PREFIXES):
        return True
    # a line with another command's prefix is unsolicited; bare lines belong to bare-answer commands
    return bool(_PREFIXED.match(text))


@dataclass(frozen=True)
class AtResponse:
    """The answer to one command: its information lines (URCs removed), final result and the URCs seen."""

    command: str  #: the command as safe to show (secrets redacted)
    lines: tuple[str, ...]
    final: FinalResult
    urcs: tuple[str, ...] = ()
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.final.ok

    @property
    def text(self) -> str:
        """Information lines joined with CRLF."""
        return "\r\n".join(self.lines)

    def payload(self, prefix: str) -> list[str]:
        """Information lines with `prefix` (e.g. `%XMODEMUUID:`) removed and stripped."""
        return [line[len(prefix) :].strip() for line in self.lines if line.upper().startswith(prefix.upper())]


@dataclass
class LineFramer:
    """Splits a text stream into lines; keeps quoted CR/LF of multi-line answers inside their line."""

    _buf: str = ""
    _search_from: int = 0
    lines_out: int = field(default=0)

    @property
    def pending(self) -> str:
        """Text received after the last complete line (e.g. a shell prompt without a newline)."""
        return self._buf

    def clear(self) -> str:
        """Forget the partial line; return it."""
        rest, self._buf, self._search_from = self._buf, "", 0
        return rest

    def feed(self, text: str) -> list[str]:
        """Add `text`; return the lines completed by it (terminators removed)."""
        self._buf += text
        lines: list[str] = []
        while True:
            index = self._buf.find("\n", self._search_from)
            if index < 0:
                break
            candidate = self._buf[:index]
            if (
                candidate.lstrip().startswith(MULTILINE_PREFIXES)
                and candidate.count('"') % 2 == 1
                and len(candidate) < MAX_MULTILINE_CHARS
            ):
                self._search_from = index + 1
                continue
            lines.append(candidate[:-1] if candidate.endswith("\r") else candidate)
            self._buf = self._buf[index + 1 :]
            self._search_from = 0
        self.lines_out += len(lines)
        return lines
