"""Replaying the webhook dead-letter file: the notices no webhook took, sent again once the endpoint is back.

Every line is checked before the first POST (a damaged file sends nothing). The file is then claimed (renamed to
`<name>.replaying`), so a collector still running appends new notices to a fresh file meanwhile; a notice that
fails again is appended back to the file with its attempt count raised; the claimed file is removed at the end.
A replay cut short leaves its claimed file, which the next replay takes first (a notice may then arrive twice:
delivery is at least once, as for any webhook).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credwarden.collect.webhooks import append_dead_letter, post_json, shown_url
from credwarden.errors import UsageError, ValidationError
from credwarden.inventory.vocabulary import ALERT_KINDS

#: The keys of a webhook body (collect/webhooks.py `alert_body`), exactly.
BODY_KEYS = frozenset({"device", "kind", "sec_tag", "type", "type_name", "since", "detail"})
BODY_KINDS = frozenset({*ALERT_KINDS, "resolved"})
CLAIM_SUFFIX = ".replaying"


@dataclass(frozen=True)
class DeadLetter:
    """One undelivered notice: where it was read, which webhook refused it, and the body to send again."""

    source: str  #: `file:line`
    webhook: str  #: scheme and host of the webhook that refused it
    webhook_index: int  #: its position among the collector's `--webhook` options
    attempts: int
    body: dict[str, Any]


@dataclass(frozen=True)
class ReplayResult:
    """What one notice's replay did."""

    letter: DeadLetter
    delivered: bool
    error: str

    def to_json(self) -> dict[str, Any]:
        body = self.letter.body
        return {
            "source": self.letter.source,
            "device": body["device"],
            "kind": body["kind"],
            "sec_tag": body["sec_tag"],
            "webhook": self.letter.webhook,
            "delivered": self.delivered,
            "error": self.error or None,
        }


def parse_dead_letters(text: str, name: str) -> list[DeadLetter]:
    """Every line of a dead-letter file; one ValidationError listing every bad line (nothing is sent then)."""
    letters: list[DeadLetter] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            letters.append(_letter(json.loads(line), where))
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not JSON ({exc.msg} at column {exc.colno})")
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    if problems:
        count = len(problems)
        listed = "\n".join(f"  - {p}" for p in problems[:20]) + ("\n  - ..." if count > 20 else "")
        raise ValidationError(
            f"{count} line{'s' if count != 1 else ''} not a dead-letter notice, nothing was sent:\n{listed}",
            source=name,
        )
    return letters


def _letter(data: Any, where: str) -> DeadLetter:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    body, index, attempts = data.get("body"), data.get("webhook_index"), data.get("attempts", 0)
    if not isinstance(body, dict) or set(body) != BODY_KEYS:
        raise ValueError(f"'body' must be a webhook body with exactly the keys {', '.join(sorted(BODY_KEYS))}")
    if body["kind"] not in BODY_KINDS:
        raise ValueError(f"unknown kind {str(body['kind'])[:40]!r}")
    if not (isinstance(body["device"], str) and body["device"]):
        raise ValueError("'body.device' must be a device id")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValueError("'webhook_index' must be a whole number >= 0")
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
        raise ValueError("'attempts' must be a whole number >= 0")
    webhook = data.get("webhook")
    if not isinstance(webhook, str):
        raise ValueError("'webhook' must be the scheme and host of the webhook that refused it")
    return DeadLetter(where, webhook, index, attempts, body)


def route(letters: Sequence[DeadLetter], urls: Sequence[str]) -> list[str]:
    """The URL each notice goes to: the `--webhook` at its index, which must be the same scheme and host as the one
    that refused it (the URLs in the collector's order). UsageError before anything is sent otherwise."""
    targets: list[str] = []
    for letter in letters:
        if letter.webhook_index >= len(urls):
            raise UsageError(
                f"{letter.source}: refused by webhook #{letter.webhook_index + 1} ({letter.webhook}), but only "
                f"{len(urls)} --webhook given: give them in the collector's order"
            )
        url = urls[letter.webhook_index]
        if shown_url(url) != letter.webhook:
            raise UsageError(
                f"{letter.source}: refused by {letter.webhook}, but --webhook #{letter.webhook_index + 1} is "
                f"{shown_url(url)}: give the webhooks in the collector's order"
            )
        targets.append(url)
    return targets


def pending_files(path: Path) -> list[Path]:
    """The files a replay takes: a claimed file a cut-short replay left (first), then the file itself."""
    claimed = path.with_name(path.name + CLAIM_SUFFIX)
    return [p for p in (claimed, path) if p.is_file()]


def read_pending(path: Path) -> list[DeadLetter]:
    """Every notice waiting in `path` (and in a claimed file left by a cut-short replay), checked."""
    letters: list[DeadLetter] = []
    for file in pending_files(path):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{file} cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
        letters.extend(parse_dead_letters(text, str(file)))
    return letters


def replay(
    path: Path,
    urls: Sequence[str],
    *,
    on_result: Callable[[ReplayResult], None] = lambda result: None,
    post: Callable[[str, bytes], tuple[bool, str]] = post_json,
) -> list[ReplayResult]:
    """Send every waiting notice once to its webhook; failures go back to `path`. Checks everything first."""
    route(read_pending(path), urls)  # a bad line or a wrong --webhook: nothing is claimed, nothing sent
    claimed = _claim(path)
    if claimed is None:
        return []
    letters = parse_dead_letters(claimed.read_text(encoding="utf-8"), str(claimed))  # with lines added meanwhile
    targets = route(letters, urls)
    results: list[ReplayResult] = []
    for letter, url in zip(letters, targets, strict=True):
        _retry, error = post(url, json.dumps(letter.body, sort_keys=True).encode())
        if error:
            append_dead_letter(path, url, letter.webhook_index, letter.attempts + 1, error, letter.body)
        result = ReplayResult(letter, not error, error)
        results.append(result)
        on_result(result)
    claimed.unlink(missing_ok=True)
    return results


def _claim(path: Path) -> Path | None:
    """Move `path` behind the claimed file (renames only: a collector appending meanwhile starts a new file)."""
    claimed = path.with_name(path.name + CLAIM_SUFFIX)
    if path.is_file():
        if not claimed.exists():
            os.replace(path, claimed)
        else:  # a cut-short replay's leftovers stay first
            moving = path.with_name(path.name + ".moving")
            os.replace(path, moving)
            with claimed.open("a", encoding="utf-8") as out:
                out.write(moving.read_text(encoding="utf-8"))
            moving.unlink()
    return claimed if claimed.is_file() else None
