"""apply/plan against the simulator through a real pty, in every dialect (tier 2)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from provision_pki import Pki, manifest_text

from credwarden.api import connect
from credwarden.errors import DeviceTimeout, ExitCode, ValidationError
from credwarden.modem.device import Device
from credwarden.provision import apply, load_manifest, plan
from credwarden.sim import SimConfig, SimModem
from credwarden.sim.store import make_entry

DIALECTS = ("at_client", "shell", "slm")


@contextmanager
def simulated(frontend: str = "at_client", profile: str = "2.0.2", **config: Any) -> Iterator[tuple[SimModem, Device]]:
    sim = SimModem(SimConfig(profile=profile, frontend=frontend, fast=True, **config))  # type: ignore[arg-type]
    with sim, sim.serve_pty() as path, connect(path, mode=frontend, timeout=2.0) as dev:
        yield sim, dev


def cmng_writes(sim: SimModem) -> list[str]:
    return [r.command for r in sim.accounting.records if r.kind in ("%CMNG=0", "#XCMNG=0")]


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture
def manifest(pki: Pki, tmp_path: Path) -> Path:
    pki.write(tmp_path)
    (tmp_path / "m.toml").write_text(manifest_text())
    return tmp_path / "m.toml"


@pytest.mark.parametrize("frontend", DIALECTS)
def test_fresh_apply_then_idempotent_reapply(frontend: str, manifest: Path) -> None:
    stages: list[str] = []
    with simulated(frontend) as (sim, dev):
        first = apply(dev, manifest, observer=lambda stage, info: stages.append(stage))
        assert first.ok and first.exit_code is ExitCode.OK, first.to_json()
        assert [r.status for r in first.results] == ["written"] * 3
        assert sim.store.nvm_writes == 3
        assert {"plan", "write 1/3", "write 3/3", "verify"} <= set(stages)
        writes_before, commands_before = sim.store.nvm_writes, len(sim.accounting.records)
        second = apply(dev, manifest)
        assert second.ok and [r.status for r in second.results] == ["unchanged"] * 3
        assert sim.store.nvm_writes == writes_before  # zero NVM writes
        assert len(sim.accounting.records) - commands_before <= 5
        assert second.commands <= 5 and second.nvm_operations == 0
        data = second.to_json()
        assert data["device"]["imei"] == sim.config.imei and data["actions"][0] == {
            "sec_tag": 42, "type": "root-ca", "action": "skip", "status": "unchanged", "reason": "identical"}


@pytest.mark.parametrize("frontend", DIALECTS)
def test_entries_written_by_other_tools_are_not_rewritten(frontend: str, pki: Pki, manifest: Path) -> None:
    with simulated(frontend) as (sim, dev):
        sim.store.put(make_entry(42, 0, pki.ca_pem.replace(b"\n", b"\r\n")), count=False)  # nrfcloud-utils
        sim.store.put(make_entry(42, 1, pki.client_pem.rstrip(b"\n"), readable=False), count=False)  # nrfcredstore
        report = apply(dev, manifest)
        assert report.ok
        reasons = [r.to_json()["reason"] for r in report.results]
        assert reasons[0].startswith("identical (stored with CRLF") or frontend == "shell"
        assert reasons[1].startswith("identical (stored with LF line endings without the final newline")
        assert sim.store.nvm_writes == 1  # only the key was missing


def test_plan_reads_once_and_changes_nothing(manifest: Path) -> None:
    with simulated(boot_cfun=1) as (sim, dev):
        before = len(sim.accounting.records)
        result = plan(dev, manifest)
        kinds = [r.kind for r in sim.accounting.records[before:]]
        assert kinds.count("%CMNG=1") == 1 and "%CMNG=0" not in kinds and "+CFUN=" not in kinds
        assert [a.action for a in result.actions] == ["write"] * 3
        dry = apply(dev, manifest, dry_run=True)
        assert dry.ok and [r.status for r in dry.results] == ["planned"] * 3 and sim.store.nvm_writes == 0
        assert sim.ram.cfun == 1


def test_cfun_restored_and_untouched_when_in_sync(manifest: Path) -> None:
    with simulated(boot_cfun=1) as (sim, dev):
        assert apply(dev, manifest).ok
        assert sim.ram.cfun == 1
        before = len(sim.accounting.records)
        assert apply(dev, manifest).ok
        assert not [r for r in sim.accounting.records[before:] if r.kind.startswith("+CFUN=")]


def test_placeholder_firmware(manifest: Path) -> None:
    with simulated(profile="1.2.3") as (sim, dev):
        strict = apply(dev, manifest)  # unverifiable = "fail" (default): presence of key/cert proves nothing
        assert not strict.ok and strict.exit_code is ExitCode.VERIFICATION
        assert [r.status for r in strict.results] == ["written", "failed", "failed"]
        assert "placeholder digests" in strict.results[2].to_json()["reason"]
        again = apply(dev, manifest)
        assert again.exit_code is ExitCode.VERIFICATION and "nothing was written" in (again.message or "")
        assert [r.status for r in again.results] == ["unchanged", "blocked", "blocked"]
    text = manifest.read_text()
    manifest.write_text('unverifiable = "warn"\n' + text)
    with simulated(profile="1.2.3") as (sim, dev):
        assert apply(dev, manifest).ok
        writes = sim.store.nvm_writes
        kept = apply(dev, manifest)
        assert kept.ok and sim.store.nvm_writes == writes
        assert [r.status for r in kept.results] == ["unchanged", "kept", "kept"]


def test_verification_failure_exits_6(pki: Pki, tmp_path: Path) -> None:
    pki.write(tmp_path)
    (tmp_path / "m.toml").write_text(manifest_text(sec_tag=42) + manifest_text(sec_tag=43))
    with simulated() as (sim, dev):
        sim.faults.wipe_tag, sim.faults.wipe_after = 42, 1  # tag 42 vanishes after a write elsewhere
        report = apply(dev, tmp_path / "m.toml")
        assert not report.ok and report.exit_code is ExitCode.VERIFICATION
        assert any(r.status == "failed" and r.action.sec_tag == 42 for r in report.results)


def test_exclusive_deletes_other_types_on_named_tags_only(pki: Pki, tmp_path: Path) -> None:
    pki.write(tmp_path)
    (tmp_path / "m.toml").write_text(manifest_text(extra="exclusive = true"))
    with simulated() as (sim, dev):
        sim.store.put(make_entry(42, 3, b"abcd", readable=False), count=False)
        sim.store.put(make_entry(7, 3, b"abcd", readable=False), count=False)
        report = apply(dev, tmp_path / "m.toml")
        assert report.ok and report.results[0].status == "deleted"
        assert sim.store.get(42, 3) is None and sim.store.get(7, 3) is not None


def test_lost_result_is_resolved_from_the_stored_state(manifest: Path) -> None:
    with simulated() as (sim, dev):
        def arm(stage: str, info: object) -> None:
            if stage == "write 2/3":
                sim.faults.lose_results = 1
        report = apply(dev, manifest, observer=arm)
        assert report.ok, report.to_json()
        assert "timed out" in report.results[1].to_json()["reason"]
        assert sim.store.writes_of(42, 1) == 1  # never rewritten blindly


def test_truncated_entry_is_found_by_digest_and_repaired(pki: Pki, manifest: Path) -> None:
    with simulated() as (sim, dev):
        sim.store.put(make_entry(42, 2, pki.key_pem[:100], readable=False), count=False)  # power cut mid-write
        report = apply(dev, manifest)
        assert report.ok and report.results[2].status == "written"
        assert report.results[2].to_json()["reason"].startswith("different (stored sha256")


@pytest.mark.slow
def test_power_cut_mid_write_stops_cleanly_and_the_next_run_repairs(manifest: Path) -> None:
    with simulated() as (sim, dev):
        sim.faults.power_cut_after = 100
        with pytest.raises(DeviceTimeout):
            apply(dev, manifest)
        truncated = sim.store.get(42, 0)
        assert truncated is not None and len(truncated.content) == 100
        sim.faults.clear()
        sim.restart()
    with simulated() as (sim2, dev2):
        sim2.store.put(make_entry(42, 0, truncated.content), count=False)
        report = apply(dev2, manifest)
        assert report.ok and report.results[0].status == "written"
        assert "different" in report.results[0].to_json()["reason"]


def test_reboot_mid_run_replans(manifest: Path) -> None:
    with simulated("slm") as (sim, dev):
        def reboot(stage: str, info: object) -> None:
            if stage == "write 2/3" and not getattr(reboot, "done", False):
                reboot.done = True  # type: ignore[attr-defined]
                sim.restart()
        report = apply(dev, manifest, observer=reboot)
        assert report.ok, report.to_json()
        assert {(e.sec_tag, e.type) for e in sim.store if e.sec_tag == 42} == {(42, 0), (42, 1), (42, 2)}


def test_native_tls_on_slm(pki: Pki, tmp_path: Path) -> None:
    pki.write(tmp_path)
    (tmp_path / "m.toml").write_text(manifest_text(extra="native_tls = true"))
    with simulated("slm") as (sim, dev), pytest.raises(ValidationError, match=r"firmware >= 2\.0\.2 rejects"):
        apply(dev, tmp_path / "m.toml")  # 2.0.2 validates type 0 as a certificate: no key through #XCMNG
    with simulated("slm", profile="1.3.5") as (sim, dev):
        report = apply(dev, tmp_path / "m.toml")
        assert report.ok, report.to_json()
        assert {(e.sec_tag, e.type) for e in sim.store if e.sec_tag < 1000} == {(420, 0), (421, 0), (422, 0)}
        assert all(c.startswith("AT#XCMNG=0") for c in cmng_writes(sim))
        writes = sim.store.nvm_writes
        assert apply(dev, tmp_path / "m.toml").ok and sim.store.nvm_writes == writes
    with simulated("at_client") as (_, dev), pytest.raises(Exception, match="native_tls needs the Serial LTE"):
        apply(dev, tmp_path / "m.toml")


def test_placeholder_manifest_resolves_per_device(pki: Pki, tmp_path: Path) -> None:
    with simulated() as (sim, dev):
        device_dir = tmp_path / sim.config.imei
        pki.write(device_dir)
        (tmp_path / "m.toml").write_text(manifest_text(ca="{imei}/ca.pem", client="{imei}/client.pem",
                                                       key="{imei}/client.key"))
        assert apply(dev, load_manifest(tmp_path / "m.toml")).ok
        assert sim.store.nvm_writes == 3
