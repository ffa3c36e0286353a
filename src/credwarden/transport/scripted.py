"""A scripted in-memory Transport: answers computed per written command (tests, dry runs, transcript replay)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator


class ScriptedTransport:
    """Feeds scripted answers back, cut into chunks of the given sizes (then whole reads).

    `responder(data)` gets every write and returns the bytes the "device" answers. An empty inbox makes
    `read()` wait a little (at most 2 ms) and return b"", like a quiet line.
    """

    name = "scripted"

    def __init__(self, responder: Callable[[bytes], bytes], chunks: list[int] | None = None) -> None:
        self.responder = responder
        self.inbox = bytearray()
        self.written: list[bytes] = []
        self._chunks: Iterator[int] | None = iter(chunks) if chunks else None
        self.closed = False

    def push(self, data: bytes) -> None:
        self.inbox += data

    def write(self, data: bytes) -> None:
        self.written.append(data)
        self.inbox += self.responder(data)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if not self.inbox:
            time.sleep(min(timeout, 0.002))
            return b""
        size = max_bytes
        if self._chunks is not None:
            size = min(max_bytes, next(self._chunks, max_bytes))
        data = bytes(self.inbox[:size])
        del self.inbox[:size]
        return data

    def reset_input(self) -> None:
        self.inbox.clear()

    def close(self) -> None:
        self.closed = True


def answer_table(answers: dict[str, str], default: str = "ERROR\r\n") -> Callable[[bytes], bytes]:
    """A responder: command text (without terminator) -> answer text."""

    def respond(data: bytes) -> bytes:
        command = data.decode("latin-1").rstrip("\r\n")
        return answers.get(command, default).encode("latin-1")

    return respond
