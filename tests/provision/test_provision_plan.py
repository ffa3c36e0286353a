"""The plan as a pure function: desired credentials vs listed entries (tier 1, no device)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from provision_pki import Pki, manifest_text

from credwarden.models import StoredEntry
from credwarden.provision.manifest import load_manifest
from credwarden.provision.plan import make_plan, readback_slots
from credwarden.provision.resolve import DesiredCredential, DeviceIdentity, resolve_manifest
from credwarden.types import placeholder_digest


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest().upper()


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def desired(pki: Pki, tmp: Path, extra: str = "", tail: str = "") -> list[DesiredCredential]:
    pki.write(tmp)
    (tmp / "m.toml").write_text(manifest_text(extra=extra) + tail)
    return resolve_manifest(load_manifest(tmp / "m.toml"), DeviceIdentity(dialect="at_client"))


def stored(items: list[DesiredCredential], transform: object = None) -> list[StoredEntry]:
    fn = transform or (lambda b: b)
    return [StoredEntry(d.sec_tag, int(d.type), sha(fn(d.credential.content))) for d in items]  # type: ignore[operator]


def test_missing_entries_are_written(pki: Pki, tmp_path: Path) -> None:
    plan = make_plan(desired(pki, tmp_path), [], dialect="at_client")
    assert [(a.type, a.action, a.reason) for a in plan.actions] == [
        (0, "write", "missing"),
        (1, "write", "missing"),
        (2, "write", "missing"),
    ]
    assert not plan.in_sync


def test_identical_entries_are_skipped(pki: Pki, tmp_path: Path) -> None:
    items = desired(pki, tmp_path)
    plan = make_plan(items, stored(items), dialect="at_client")
    assert plan.in_sync and {a.reason for a in plan.actions} == {"identical"}


@pytest.mark.parametrize(
    ("name", "transform", "reason"),
    [
        ("crlf", lambda b: b.replace(b"\n", b"\r\n"), "identical (stored with CRLF line endings with a final CRLF"),
        ("nrfcredstore", lambda b: b.rstrip(b"\n"), "identical (stored with LF line endings without the final"),
        ("crlf-no-final", lambda b: b.replace(b"\n", b"\r\n")[:-2], "identical (stored with CRLF line endings without"),
    ],
)
def test_other_tools_encodings_count_as_stored(
    pki: Pki, tmp_path: Path, name: str, transform: object, reason: str
) -> None:
    items = desired(pki, tmp_path)
    plan = make_plan(items, stored(items, transform), dialect="at_client")
    assert plan.in_sync, name
    assert all(a.reason.startswith(reason) for a in plan.actions)


def test_shell_dialect_expects_crlf(pki: Pki, tmp_path: Path) -> None:
    items = desired(pki, tmp_path)
    plan = make_plan(items, stored(items, lambda b: b.replace(b"\n", b"\r\n")), dialect="shell")
    assert {a.reason for a in plan.actions} == {"identical"}


def test_different_entry_is_rewritten_with_reason(pki: Pki, tmp_path: Path) -> None:
    items = desired(pki, tmp_path)
    entries = stored(items)
    entries[1] = StoredEntry(42, 1, "AB" * 32)
    plan = make_plan(items, entries, dialect="at_client")
    assert [a.action for a in plan.actions] == ["skip", "write", "skip"]
    assert plan.actions[1].reason.startswith("different (stored sha256 ABABABABABAB..ABAB, expected ")


def test_placeholder_firmware(pki: Pki, tmp_path: Path) -> None:
    items = desired(pki, tmp_path)
    entries = [StoredEntry(42, t, placeholder_digest(t)) for t in (0, 1, 2)]
    assert readback_slots(items, entries, "at_client") == [(42, 0)]  # only the readable, non-secret CA
    plan = make_plan(items, entries, dialect="at_client", readback={(42, 0): items[0].credential.content})
    assert [a.action for a in plan.actions] == ["skip", "unverifiable", "unverifiable"]
    assert "cannot be read back" in plan.actions[2].reason and plan.blocked


@pytest.mark.parametrize(
    ("policy", "action", "reason"),
    [
        ("warn", "skip", "kept as stored (unverifiable=warn)"),
        ("rewrite", "write", "rewritten (unverifiable=rewrite)"),
    ],
)
def test_unverifiable_policies(pki: Pki, tmp_path: Path, policy: str, action: str, reason: str) -> None:
    items = desired(pki, tmp_path, extra=f'unverifiable = "{policy}"')
    entries = [StoredEntry(42, t, placeholder_digest(t)) for t in (0, 1, 2)]
    plan = make_plan(items, entries, dialect="at_client", readback={(42, 0): b"different"})
    assert plan.actions[0].action == "write" and "read back differs" in plan.actions[0].reason
    assert plan.actions[2].action == action and plan.actions[2].reason.endswith(reason)


def test_readback_of_rewrapped_ca_counts_as_identical(pki: Pki, tmp_path: Path) -> None:
    items = desired(pki, tmp_path)
    ca = items[0].credential.content
    body = b"".join(ca.split(b"\n")[1:-2])
    rewrapped = (
        b"-----BEGIN CERTIFICATE-----\r\n"
        + b"\r\n".join(body[i : i + 76] for i in range(0, len(body), 76))
        + b"\r\n-----END CERTIFICATE-----\r\n"
    )
    entries = stored(items)
    entries[0] = StoredEntry(42, 0, sha(rewrapped))
    assert readback_slots(items, entries, "at_client") == [(42, 0)]
    plan = make_plan(items, entries, dialect="at_client", readback={(42, 0): rewrapped})
    assert plan.in_sync and "content read back" in plan.actions[0].reason


def test_deletes_only_on_exclusive_or_prune_and_never_reserved(pki: Pki, tmp_path: Path) -> None:
    items = desired(pki, tmp_path)
    others = [
        StoredEntry(42, 3, "CD" * 32),
        StoredEntry(42, 6, "06" * 32),
        StoredEntry(7, 0, "EF" * 32),
        StoredEntry(4294967292, 11, "0B" * 32),
    ]
    assert not make_plan(items, stored(items) + others, dialect="at_client").changes
    pruned = make_plan(items, stored(items) + others, dialect="at_client", prune=True)
    assert [(a.sec_tag, a.type, a.action) for a in pruned.changes] == [(42, 3, "delete")]
    assert "--prune" in pruned.changes[0].reason
    exclusive = make_plan(desired(pki, tmp_path, extra="exclusive = true"), stored(items) + others, dialect="at_client")
    assert [(a.sec_tag, a.type) for a in exclusive.changes] == [(42, 3)]
    assert exclusive.actions[0].action == "delete"  # deletes come first


def test_native_tls_mapping(pki: Pki, tmp_path: Path) -> None:
    items = desired(pki, tmp_path, extra="native_tls = true")
    entries = [StoredEntry(420 + int(d.type), 0, sha(d.credential.content)) for d in items]
    plan = make_plan(items, [*entries, StoredEntry(423, 0, "11" * 32)], dialect="slm", prune=True)
    assert [(a.sec_tag, a.type, a.action) for a in plan.actions] == [
        (42, 3, "delete"),
        (42, 0, "skip"),
        (42, 1, "skip"),
        (42, 2, "skip"),
    ]
    assert plan.actions[0].to_json()["modem_sec_tag"] == 423
    missing = make_plan(items, [], dialect="slm")
    assert [a.slot for a in missing.changes] == [(420, 0), (421, 0), (422, 0)]


def test_plan_json_is_stable(pki: Pki, tmp_path: Path) -> None:
    items = desired(pki, tmp_path)
    data = make_plan(items, [], dialect="at_client").to_json()
    assert data["counts"] == {"skip": 0, "write": 3, "delete": 0, "unverifiable": 0}
    assert data["actions"][2] == {
        "sec_tag": 42,
        "type": 2,
        "type_name": "client-key",
        "action": "write",
        "reason": "missing",
    }
