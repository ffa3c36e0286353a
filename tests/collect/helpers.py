"""Builders shared by the collector tests (unique module name: tests run with rootdir-relative imports)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from credwarden.inventory.field_reports import IncomingReport
from credwarden.report import build_cw1, build_sms, firmware_block, list_block, parse_report
from credwarden.report.model import Block

IMEI = "352656100367872"
IMEI2 = "352656100000002"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest().upper()


def cw1(
    seq: int,
    entries: Sequence[tuple[int, int, str | None]] | None,
    *,
    imei: str = IMEI,
    up: int | None = None,
    final: str = "OK",
    tls: Sequence[tuple[int, int]] = (),
    extra_blocks: Sequence[Block] = (),
) -> str:
    blocks = [firmware_block("mfw_nrf91x1_2.0.2"), *extra_blocks]
    if entries is not None:
        blocks.append(list_block(entries, final=final))
    return build_cw1(imei, seq, up=up if up is not None else seq * 60, app="1.0.0", tls=tls, blocks=blocks)


def incoming(text: str, minutes: int, transport: str = "mqtt") -> IncomingReport:
    return IncomingReport(parse_report(text), transport, T0 + timedelta(minutes=minutes))


def sms(seq: int, entries: Sequence[tuple[int, int, str | None]], *, imei: str = IMEI) -> str:
    return build_sms(imei, seq, entries, up=seq * 60)
