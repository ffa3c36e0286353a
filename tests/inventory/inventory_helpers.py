"""Helpers shared by the inventory tests (unique module name: tests run with rootdir-relative imports)."""

from __future__ import annotations

from credwarden.models import DeviceInfo, StoredEntry
from credwarden.types import luhn_check_digit


def make_info(
    imei: str = "352656100000010", *, firmware: str = "mfw_nrf91x1_2.0.2", uuid_: str | None = None
) -> DeviceInfo:
    return DeviceInfo(
        imei=imei,
        model="nRF9151-LACA",
        firmware=firmware,
        firmware_version=None,
        uuid=uuid_,
        modem_build_uuid=None,
        cfun=4,
        dialect="at_client",
    )


def sha(n: int) -> str:
    return f"{n:064X}"


def entries(*items: tuple[int, int, int]) -> list[StoredEntry]:
    """(sec_tag, type, digest number) -> StoredEntry list."""
    return [StoredEntry(tag, typ, sha(d)) for tag, typ, d in items]


def imei(serial: int, tac: str = "35000000") -> str:
    """A valid IMEI (Luhn check digit) with this serial number."""
    body = f"{tac}{serial:06d}"
    return body + luhn_check_digit(body)
