"""Logging setup and the ONE redaction filter every log line, wire trace and error message goes through.

Secret material (content of `%CMNG=0` writes of types 2 and 3, and key passwords) is replaced by
`<redacted N bytes sha256=<first 16 hex>>`. `StreamRedactor` works on a byte stream cut at arbitrary points
(a command split across reads), holding back a secret until its closing quote arrives.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys

from credwarden.types import SECRET_TYPES

WIRE_LOGGER = "credwarden.wire"
#: `extra={ALREADY_REDACTED: True}` marks a record whose text was redacted by a StreamRedactor.
ALREADY_REDACTED = "credwarden_redacted"
_MARKERS: tuple[str, ...] = ("%CMNG=0,", "#XCMNG=0,")
_HOLD = max(len(m) for m in _MARKERS) - 1
_HEADER = re.compile(r'\s*\d*\s*,\s*(\d+)\s*,\s*"')
_HEADER_PREFIX = re.compile(r"\s*\d*\s*(?:,\s*(?:\d+\s*(?:,\s*)?)?)?")
_SECRET_CODES = frozenset(int(t) for t in SECRET_TYPES)
_PRIVATE_KEY = re.compile(r"PRIVATE\s+KEY")


def looks_secret(content: str | bytes) -> bool:
    """True for content that is a private key whatever type it is written as (`-----BEGIN ... PRIVATE KEY-----`)."""
    text = content.decode("latin-1") if isinstance(content, bytes) else content
    return _PRIVATE_KEY.search(text) is not None


def redaction_marker(data: str | bytes, *, secret: bool = True) -> str:
    """`<redacted N bytes sha256=<first 16 hex>>` (or `<N bytes sha256=...>` for non-secret abbreviation)."""
    raw = data.encode("latin-1", errors="replace") if isinstance(data, str) else data
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return f"<redacted {len(raw)} bytes sha256={digest}>" if secret else f"<{len(raw)} bytes sha256={digest}>"


class StreamRedactor:
    """Incremental redaction of text cut at arbitrary points. `feed()` returns what is safe to show now."""

    def __init__(self, *, abbreviate: bool = False) -> None:
        self._abbreviate = abbreviate  #: also shorten non-secret content to `<N bytes sha256=...>`
        self._buf = ""
        self._state = "scan"
        self._secret = False
        self._held = ""

    def feed(self, text: str) -> str:
        """Add `text`; return the redacted text that can be emitted without risk."""
        self._buf += text
        out: list[str] = []
        while True:
            step = getattr(self, f"_step_{self._state}")(out)
            if not step:
                break
        return "".join(out)

    def flush(self) -> str:
        """End of stream: emit what is left, redacting an unterminated secret."""
        out = self.feed("")
        if self._state in ("content", "password"):
            held = self._held + self._buf
            if self._state == "password" or self._secret or looks_secret(held):
                out += redaction_marker(held) + " (unterminated)"
            elif self._abbreviate:
                out += redaction_marker(held, secret=False) + " (unterminated)"
            else:
                out += held
        else:
            out += self._buf
        self._buf, self._held, self._state = "", "", "scan"
        return out

    def _step_scan(self, out: list[str]) -> bool:
        hits = [(i, m) for m in _MARKERS if (i := self._buf.find(m)) >= 0]
        if not hits:
            keep = _marker_prefix_length(self._buf)
            cut = len(self._buf) - keep
            out.append(self._buf[:cut])
            self._buf = self._buf[cut:]
            return False
        index, marker = min(hits)
        end = index + len(marker)
        out.append(self._buf[:end])
        self._buf = self._buf[end:]
        self._state = "header"
        return True

    def _step_header(self, out: list[str]) -> bool:
        match = _HEADER.match(self._buf)
        if match:
            out.append(self._buf[: match.end()])
            self._buf = self._buf[match.end() :]
            self._secret = int(match.group(1)) in _SECRET_CODES
            self._held = ""
            self._state = "content"
            return True
        partial = _HEADER_PREFIX.match(self._buf)
        if partial and partial.end() == len(self._buf):
            return False  # could still become a write header: wait for more
        self._state = "scan"
        return True

    def _step_content(self, out: list[str]) -> bool:
        end = self._buf.find('"')
        if end < 0:
            self._held += self._buf
            self._buf = ""
            return False
        content = self._held + self._buf[:end]
        self._buf = self._buf[end + 1 :]
        self._held = ""
        if self._secret or looks_secret(content):
            out.append(redaction_marker(content))
        elif self._abbreviate:
            out.append(redaction_marker(content, secret=False))
        else:
            out.append(content)
        out.append('"')
        self._state = "after"
        return True

    def _step_after(self, out: list[str]) -> bool:
        if not self._buf or self._buf == ",":
            return False
        if self._buf.startswith(',"'):
            out.append(',"')
            self._buf = self._buf[2:]
            self._held = ""
            self._state = "password"
            return True
        self._state = "scan"
        return True

    def _step_password(self, out: list[str]) -> bool:
        end = self._buf.find('"')
        if end < 0:
            self._held += self._buf
            self._buf = ""
            return False
        password = self._held + self._buf[:end]
        self._buf = self._buf[end + 1 :]
        self._held = ""
        out.append(redaction_marker(password) + '"')
        self._state = "scan"
        return True


def _marker_prefix_length(text: str) -> int:
    """Length of the longest end of `text` that could be the start of a write marker (held back)."""
    for size in range(min(len(text), _HOLD), 0, -1):
        tail = text[-size:]
        if any(marker.startswith(tail) for marker in _MARKERS):
            return size
    return 0


def redact_text(text: str, *, abbreviate: bool = False) -> str:
    """Redact a complete text (a command, a log message, an exception message)."""
    redactor = StreamRedactor(abbreviate=abbreviate)
    return redactor.feed(text) + redactor.flush()


def describe_command(command: str) -> str:
    """Short, safe form of a command for messages: content abbreviated, secrets redacted."""
    return redact_text(command, abbreviate=True)


class RedactionFilter(logging.Filter):
    """Logging filter that runs every record's final message through `redact_text`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, ALREADY_REDACTED, False):
            return True  # wire traces went through a StreamRedactor already
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def configure_logging(debug: bool = False, stream: object | None = None) -> logging.Handler:
    """Send credwarden's log to stderr (DEBUG with wire traffic when `debug`), through the redaction filter."""
    logger = logging.getLogger("credwarden")
    for existing in list(logger.handlers):
        if getattr(existing, "_credwarden", False):
            logger.removeHandler(existing)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)  # type: ignore[arg-type]
    handler._credwarden = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)s %(name)s %(message)s", "%H:%M:%S"))
    handler.addFilter(RedactionFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    return handler
