"""Read `%CMNG` list output from wherever people have it, into snapshots (pure: text in, lists out).

Accepted: raw terminal captures (echo, prompts, CRLF or CR line ends, ANSI escapes), Cellular / LTE Link
Monitor logs (`2022-04-26T08:57:28.575Z DEBUG modem << %CMNG: ...`), bracketed-timestamp loggers
(`[2024-01-02 10:00:00.123] ...`), a single line sent back by SMS, and SLM `#XCMNG` lists.

Each `AT%CMNG=1[...]` command in the capture starts a new list (so a log with three listings gives three
snapshots); only a listing answering a full `AT%CMNG=1` and closed by OK is complete, anything else (a
filtered listing, an SMS line, a list cut short) is partial unless the caller says otherwise. Lines are
classified as: list entries; plainly other AT traffic (commands, OK/ERROR, URCs, prompts, log chatter,
read-command content) - ignored but counted; or unreadable - reported with line number and (truncated) text,
never dropped silently. Timestamps in the log become the snapshot time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from credwarden.at.cmng import parse_list_line
from credwarden.models import StoredEntry
from credwarden.types import MAX_USER_SEC_TAG

#: Unreadable line text is cut to this many characters in reports.
REPORT_WIDTH = 80

_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_TS = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
_LOG_PREFIX_RE = re.compile(
    rf"""^\s*(?:\[(?P<bts>{_TS})\]|(?P<ts>{_TS}))\s*           # timestamp, bare or [bracketed]
         (?:(?P<level>TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL)\s+)?
         (?:(?P<who>[\w.\-]+)\s+(?=<<|>>|<-|->))?                # "modem" before a direction arrow
         (?P<dir><<|>>|<-|->)?\s?""",
    re.VERBOSE,
)
_PROMPT_RE = re.compile(r"^\s*(?:[\w.\-]+:~\$|[\w.\-]*[$#>])\s*")
_COMMAND_RE = re.compile(r"^\s*(?:at\s+)?['\"]?(?P<cmd>AT\S*)", re.IGNORECASE)
_LIST_COMMAND_RE = re.compile(r"^AT[%#]X?CMNG=1(?:,(?P<tag>\d+)(?:,(?P<type>\d+))?)?", re.IGNORECASE)
_FINAL_RE = re.compile(r"^\s*(?:OK|ERROR|\+CME ERROR:.*|\+CMS ERROR:.*)\s*$")
_OTHER_AT_RE = re.compile(r"^\s*(?:[+%#][A-Z][A-Z0-9_]*:.*|Ready|INIT ERROR|>)\s*$")


@dataclass(frozen=True)
class Unreadable:
    """A line the importer could not read (reported to the user)."""

    line_no: int
    text: str

    def to_json(self) -> dict[str, object]:
        return {"line": self.line_no, "text": self.text}


@dataclass
class ListCapture:
    """One `%CMNG` listing found in the capture."""

    entries: list[StoredEntry] = field(default_factory=list)
    taken_at: datetime | None = None
    #: the sec_tag the listing was filtered to (`AT%CMNG=1,<tag>`), None for a full list
    only_sec_tag: int | None = None
    #: ... and to this type (`AT%CMNG=1,<tag>,<type>`)
    only_type: int | None = None
    command_seen: bool = False
    answered: bool = False  #: an OK/ERROR closed the listing
    ok: bool = False  #: ... and it was OK
    first_line: int = 0

    @property
    def complete(self) -> bool:
        """Whether the listing speaks for the whole store: the answer of an unfiltered `AT%CMNG=1`, closed by OK.

        Anything else (an SMS line, a list without its command or its OK, a filtered list) may have left entries
        out, so importing it as complete would record them as vanished."""
        return self.command_seen and self.only_sec_tag is None and self.ok


@dataclass
class ParsedCapture:
    """Everything the importer found in one file."""

    listings: list[ListCapture]
    unreadable: list[Unreadable]
    ignored: int
    lines: int

    @property
    def entry_count(self) -> int:
        return sum(len(listing.entries) for listing in self.listings)


def clean_line(raw: str) -> str:
    """Drop ANSI escapes, backspace edits and stray CR/NUL bytes from one captured line."""
    kept: list[str] = []
    for char in _ANSI_RE.sub("", raw):
        if char in "\b\x7f":
            if kept:
                kept.pop()
        elif char != "\x00":
            kept.append(char)
    return "".join(kept).strip("\r\n")


def split_log_prefix(line: str) -> tuple[datetime | None, str | None, str]:
    """(timestamp, direction, body) of a log line; (None, None, line) when there is no timestamp."""
    match = _LOG_PREFIX_RE.match(line)
    if match is None:
        return None, None, line
    stamp = match["ts"] or match["bts"]
    return parse_log_time(stamp), match["dir"], line[match.end() :]


def parse_log_time(stamp: str) -> datetime:
    """A log timestamp as UTC (no zone means UTC; `,` decimal separators accepted)."""
    text = stamp.replace(",", ".").replace("Z", "+00:00").replace(" ", "T", 1)
    if "." in text:
        head, _, tail = text.partition(".")
        digits = re.match(r"\d+", tail)
        frac = digits.group(0) if digits else ""
        text = f"{head}.{(frac + '000000')[:6]}{tail[len(frac) :]}"
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def map_slm_native_tls(entry: StoredEntry) -> StoredEntry:
    """SLM native TLS keeps credential (tag, type) in modem tag tag*10+type as type 0 (modem-behaviour.md#xcmng)."""
    if entry.type != 0 or entry.sec_tag > MAX_USER_SEC_TAG:
        return entry
    return StoredEntry(sec_tag=entry.sec_tag // 10, type=entry.sec_tag % 10, sha256=entry.sha256)


def parse_capture(text: str, *, slm_native_tls: bool = False) -> ParsedCapture:
    """Find every `%CMNG` / `#XCMNG` listing in a capture; classify every other line."""
    listings: list[ListCapture] = []
    unreadable: list[Unreadable] = []
    ignored = 0
    current: ListCapture | None = None
    in_read = False  # the last command was something other than a list (e.g. AT%CMNG=2): its lines are not ours
    in_quote = False  # inside multi-line quoted content of a read answer
    lines = re.split(r"\r\n|\n|\r", text)
    if lines and lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        when, direction, body = split_log_prefix(clean_line(raw))
        if in_quote:
            ignored += 1
            if body.count('"') % 2 == 1:
                in_quote = False
            continue
        stripped = body.strip()
        if not stripped:
            continue
        command = _command_in(stripped, direction)
        if command is not None:
            ignored += 1
            listed = _LIST_COMMAND_RE.match(command)
            if listed:
                current = ListCapture(
                    taken_at=when,
                    command_seen=True,
                    first_line=number,
                    only_sec_tag=int(listed["tag"]) if listed["tag"] else None,
                    only_type=int(listed["type"]) if listed["type"] else None,
                )
                listings.append(current)
                in_read = False
            else:
                in_read = True
                if current is not None and not current.answered:
                    current.answered = True
            continue
        marker = max(stripped.find("%CMNG:"), stripped.find("#XCMNG:"))
        if marker >= 0:
            line = stripped[marker:]
            if in_read:
                ignored += 1
                in_quote = line.count('"') % 2 == 1
                continue
            entry = parse_list_line(line)
            if entry is None:
                unreadable.append(Unreadable(number, _truncate(stripped)))
                continue
            if current is None or current.answered:
                current = ListCapture(taken_at=when, first_line=number)
                listings.append(current)
            if current.taken_at is None:
                current.taken_at = when
            current.entries.append(map_slm_native_tls(entry) if slm_native_tls else entry)
            continue
        if _FINAL_RE.match(stripped):
            ignored += 1
            if current is not None and not in_read and not current.answered:
                current.answered = True
                current.ok = stripped == "OK"
            in_read = False
            continue
        if in_read:
            ignored += 1  # the answer of another command (e.g. the IMEI after AT+CGSN)
            continue
        if _OTHER_AT_RE.match(stripped) or _PROMPT_RE.fullmatch(stripped) or (when is not None and direction is None):
            ignored += 1  # URCs, other info lines, prompts, log chatter of the monitor itself
            continue
        unreadable.append(Unreadable(number, _truncate(stripped)))
    listings = [lst for lst in listings if lst.entries or (lst.command_seen and lst.answered)]
    return ParsedCapture(listings=listings, unreadable=unreadable, ignored=ignored, lines=len(lines))


def _command_in(body: str, direction: str | None) -> str | None:
    """The AT command of an echoed / sent line (`AT...`, `at AT...`, `uart:~$ at AT...`), else None."""
    if direction in ("<<", "<-"):
        return None
    text = _PROMPT_RE.sub("", body, count=1) if body[:2].upper() != "AT" else body
    match = _COMMAND_RE.match(text)
    if match is None:
        return None
    return match["cmd"].rstrip("'\"")


def _truncate(text: str) -> str:
    return text if len(text) <= REPORT_WIDTH else text[: REPORT_WIDTH - 3] + "..."
