"""States against a manifest: ok / changed / unexpected / missing, and per-device `{imei}` files resolved per
device (a device whose file is missing falls back to history rules, reported once)."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers import IMEI, IMEI2, cw1, incoming, sha
from sqlalchemy import text

from credwarden.collect.expected import ManifestExpectations
from credwarden.collect.pipeline import ReportPipeline, Rules
from credwarden.creds.encoding import canonical_pem, equivalent_digests
from credwarden.inventory import Inventory

ROOT = Path(__file__).resolve().parents[2]
CA = ROOT / "examples" / "certs" / "ca.pem"
CA_SHA = (
    equivalent_digests(canonical_pem(CA.read_bytes()))["lf"]
    if "lf" in equivalent_digests(canonical_pem(CA.read_bytes()))
    else sorted(equivalent_digests(canonical_pem(CA.read_bytes())).values())[0]
)


def states(inv: Inventory) -> dict[tuple[int, int], str]:
    with inv.read() as conn:
        rows = conn.execute(text("SELECT sec_tag, type, state FROM slot_states WHERE type >= 0")).all()
    return {(int(r[0]), int(r[1])): str(r[2]) for r in rows}


def test_manifest_states_and_alerts(inv: Inventory, tmp_path: Path) -> None:
    shutil.copy(CA, tmp_path / "ca.pem")
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[[credential]]\nsec_tag = 42\ntype = "root-ca"\nfile = "ca.pem"\n\n'
        '[[credential]]\nsec_tag = 42\ntype = "psk-identity"\nvalue = "dev-1"\n'
    )
    pipe = ReportPipeline(inv, rules=Rules(confirm=1), expectations=ManifestExpectations(manifest))
    first = pipe.process([incoming(cw1(1, [(42, 0, CA_SHA), (7, 0, sha(5))]), 0)])
    assert first.fired == []
    assert states(inv) == {(42, 0): "ok", (42, 4): "missing", (7, 0): "ok"}
    second = pipe.process([incoming(cw1(2, [(42, 0, sha(1)), (42, 3, sha(2)), (7, 0, sha(5))]), 1)])
    assert sorted((a.kind, a.sec_tag, a.type) for a in second.fired) == [("changed", 42, 0), ("unexpected", 42, 3)]
    changed = next(a for a in second.fired if a.kind == "changed")
    assert "differs from the manifest" in (changed.detail or "") and CA_SHA[:8] in (changed.detail or "")
    assert states(inv)[(42, 0)] == "changed" and states(inv)[(42, 3)] == "unexpected"


def test_per_device_files(inv: Inventory, tmp_path: Path) -> None:
    (tmp_path / "devices").mkdir()
    shutil.copy(CA, tmp_path / "devices" / f"{IMEI}.pem")
    manifest = tmp_path / "m.toml"
    manifest.write_text('[[credential]]\nsec_tag = 42\ntype = "root-ca"\nfile = "devices/{imei}.pem"\n')
    expectations = ManifestExpectations(manifest)
    assert expectations.per_device
    pipe = ReportPipeline(inv, rules=Rules(confirm=2), expectations=expectations)
    result = pipe.process([incoming(cw1(1, [(42, 0, sha(9))]), 0), incoming(cw1(1, [(42, 0, sha(9))], imei=IMEI2), 0)])
    assert [(a.kind, a.imei) for a in result.fired] == []  # first observations of a bad state need confirming
    result = pipe.process([incoming(cw1(2, [(42, 0, sha(9))]), 1), incoming(cw1(2, [(42, 0, sha(9))], imei=IMEI2), 1)])
    assert [(a.kind, a.imei) for a in result.fired] == [("changed", IMEI)]  # IMEI2 has no file: history rules
    problems = expectations.take_problems()
    assert len(problems) == 1 and IMEI2 in problems[0] and "file not found" in problems[0]
    assert expectations.take_problems() == []
