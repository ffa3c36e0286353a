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
            "sec_tag": 42,
            "type": 0,
            "type_name": "root-ca",
            "action": "skip",
            "status": "unchanged",
            "reason": "identical",
        }


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
        assert not dry.ok and dry.exit_code == ExitCode.CHANGES_PENDING  # a dry run with pending writes is not "ok"
        assert [r.status for r in dry.results] == ["planned"] * 3 and sim.store.nvm_writes == 0
        assert sim.ram.cfun == 1


def test_cfun_restored_and_untouched_when_in_sync(manifest: Path) -> None:
    with simulated(boot_cfun=1) as (sim, dev):
        assert apply(dev, manifest).ok
        assert sim.ram.cfun == 1
        before = len(sim.accounting.records)
        assert apply(dev, manifest).ok
        assert not [r for r in sim.accounting.records[before:] if r.kind.startswith("+CFUN=")]


def test_placeholder_firmware_policy_fail(manifest: Path) -> None:
    """`fail` governs pre-existing unverifiable entries only: a clean apply succeeds, with warnings."""
    with simulated(profile="1.2.3") as (sim, dev):
        first = apply(dev, manifest)  # unverifiable = "fail" (default)
        assert first.ok and first.exit_code is ExitCode.OK, first.to_json()
        assert [r.status for r in first.results] == ["written"] * 3
        assert "unverifiable by this firmware" in first.results[2].to_json()["reason"]
        assert len(first.warnings) == 2 and first.to_json()["warnings"] == list(first.warnings)
        writes = sim.store.nvm_writes
        # entries someone else wrote (no write-ledger record): pre-existing and cannot be compared -> exit 6
        again = apply(dev, manifest, journal_dir=Path(str(manifest) + ".other-journal"))
        assert again.exit_code is ExitCode.VERIFICATION and "nothing was written" in (again.message or "")
        assert [r.status for r in again.results] == ["unchanged", "blocked", "blocked"]
        assert sim.store.nvm_writes == writes


def test_placeholder_firmware_reapply_is_idempotent_by_write_ledger(manifest: Path) -> None:
    """Default policy (fail) on 1.2.3: the re-apply of what this tool wrote is a no-op (exit 0, zero NVM writes)."""
    with simulated(profile="1.2.3") as (sim, dev):
        assert apply(dev, manifest).ok
        writes = sim.store.nvm_writes
        again = apply(dev, manifest)
        assert again.ok and again.exit_code is ExitCode.OK, again.to_json()
        assert sim.store.nvm_writes == writes and again.nvm_operations == 0
        assert [r.status for r in again.results] == ["unchanged"] * 3
        reasons = [r.to_json()["reason"] for r in again.results]
        assert reasons[0].startswith("identical (content read back")  # readable root CA: proven by the device
        assert all("verified by ledger, not by the device" in r for r in reasons[1:])
        assert any("verified by ledger" in w for w in again.warnings)
        shown = plan(dev, manifest)
        assert [a.action for a in shown.actions] == ["skip"] * 3 and shown.in_sync


def test_write_ledger_limits_and_clearing(pki: Pki, manifest: Path, tmp_path: Path) -> None:
    from credwarden.provision.journal import WriteJournal
    from credwarden.sim.store import make_entry as entry

    journal_dir = tmp_path / "j"
    with simulated(profile="1.2.3") as (sim, dev):
        assert apply(dev, manifest, journal_dir=journal_dir).ok
        journal = WriteJournal.for_device(sim.config.imei, None, journal_dir)
        assert set(journal.ledger()) == {(42, 0), (42, 1), (42, 2)}
        assert journal.ledger()[(42, 2)].firmware and "1.2.3" in (journal.ledger()[(42, 2)].firmware or "")
        # another tool rewrites 42/1 with the same type: the placeholder digest hides it (documented limit)
        other = make_cert_pem(pki)
        sim.store.put(entry(42, 1, other, readable=False))
        shown = plan(dev, manifest, journal_dir=journal_dir)
        assert shown.actions[1].action == "skip" and "verified by ledger, not by the device" in shown.actions[1].reason
        # another tool deletes 42/2: the apply rewrites it and the ledger holds the new write
        sim.execute("AT%CMNG=3,42,2")
        writes = sim.store.nvm_writes
        report = apply(dev, manifest, journal_dir=journal_dir)
        assert report.ok and sim.store.nvm_writes == writes + 1 and report.results[2].status == "written"
        assert set(journal.ledger()) == {(42, 0), (42, 1), (42, 2)}
        # the manifest changes the client certificate: the ledger digest differs -> written
        (tmp_path / "client2.pem").write_bytes(other)
        manifest.write_text(manifest.read_text().replace('"client.pem"', '"client2.pem"'))
        shown = plan(dev, manifest, journal_dir=journal_dir)
        assert shown.actions[1].action == "write" and "different per write ledger" in shown.actions[1].reason
        # a vanished entry is forgotten by the next apply (not by plan, which never changes the journal)
        sim.execute("AT%CMNG=3,42,1")
        plan(dev, manifest, journal_dir=journal_dir)
        assert (42, 1) in journal.ledger()
        apply(dev, manifest, journal_dir=journal_dir)
        assert journal.ledger()[(42, 1)].sha256 != "" and not journal.pending()


def test_delete_clears_the_write_ledger(pki: Pki, tmp_path: Path) -> None:
    from credwarden.provision.journal import WriteJournal

    pki.write(tmp_path)
    full = tmp_path / "full.toml"
    full.write_text(manifest_text())
    only_ca = tmp_path / "ca.toml"
    only_ca.write_text('[[credential]]\nsec_tag = 42\ntype = "root-ca"\nfile = "ca.pem"\nexclusive = true\n')
    with simulated(profile="1.2.3") as (sim, dev):
        assert apply(dev, full, journal_dir=tmp_path / "j").ok
        journal = WriteJournal.for_device(sim.config.imei, None, tmp_path / "j")
        assert set(journal.ledger()) == {(42, 0), (42, 1), (42, 2)}
        report = apply(dev, only_ca, journal_dir=tmp_path / "j")
        assert report.ok and [r.status for r in report.results].count("deleted") == 2
        assert set(journal.ledger()) == {(42, 0)}  # the deleted slots are forgotten


def make_cert_pem(pki: Pki) -> bytes:
    """Another client certificate signed by the same CA (what another tool might write)."""
    from provision_pki import make_cert, pem

    return pem(
        make_cert(
            "credwarden TEST ONLY other device",
            pki.client_key,
            issuer="credwarden TEST ONLY root CA",
            issuer_key=pki.ca_key,
        )
    )


def test_placeholder_firmware_policy_warn_and_rewrite(manifest: Path) -> None:
    text = manifest.read_text()
    manifest.write_text('unverifiable = "warn"\n' + text)
    with simulated(profile="1.2.3") as (sim, dev):
        assert apply(dev, manifest).ok
        writes = sim.store.nvm_writes
        kept = apply(dev, manifest, journal_dir=manifest.parent / "other-journal")
        assert kept.ok and sim.store.nvm_writes == writes
        assert [r.status for r in kept.results] == ["unchanged", "kept", "kept"] and len(kept.warnings) == 2
    manifest.write_text('unverifiable = "rewrite"\n' + text)
    with simulated(profile="1.2.3") as (sim, dev):
        first = apply(dev, manifest)
        assert first.ok and sim.store.nvm_writes == 3, first.to_json()  # the final check does not plan again
        second = apply(dev, manifest)  # the write ledger knows what the first run wrote: nothing to do
        assert second.ok and [r.status for r in second.results] == ["unchanged"] * 3 and sim.store.nvm_writes == 3
        third = apply(dev, manifest, journal_dir=manifest.parent / "other-journal")  # entries of someone else
        assert third.ok and [r.status for r in third.results] == ["unchanged", "written", "written"]
        assert sim.store.nvm_writes == 5  # pre-existing unverifiable entries rewritten once


@pytest.mark.parametrize("profile", ["1.2.3", "2.0.2"])
def test_interrupted_write_is_rewritten_whatever_the_policy(profile: str, manifest: Path, tmp_path: Path) -> None:
    from credwarden.provision.journal import WriteJournal

    manifest.write_text('unverifiable = "warn"\n' + manifest.read_text())
    with simulated(profile=profile) as (sim, dev):
        assert apply(dev, manifest, journal_dir=tmp_path / "j").ok
        # a power cut during an earlier write of the key: a truncated entry and a pending intent
        key = sim.store.get(42, 2)
        assert key is not None
        sim.store.put(
            make_entry(42, 2, b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49", readable=False), count=False
        )
        journal = WriteJournal.for_device(sim.config.imei, None, tmp_path / "j")
        journal.begin((42, 2), "write", "00" * 32)
        shown = plan(dev, manifest, journal_dir=tmp_path / "j")
        assert [a.action for a in shown.actions] == ["skip", "skip", "write"]
        assert shown.actions[2].reason.startswith("interrupted write: rewrite")
        report = apply(dev, manifest, journal_dir=tmp_path / "j")
        assert report.ok and report.results[2].status == "written"
        assert sim.store.get(42, 2).sha == key.sha  # type: ignore[union-attr]
        assert journal.pending() == {}
        # an intent whose write had completed, proven by a real digest (2.0.2) or by read-back (1.2.3 root CA)
        journal.begin((42, 0), "write", "00" * 32)
        writes = sim.store.nvm_writes
        again = apply(dev, manifest, journal_dir=tmp_path / "j")
        assert again.ok and journal.pending() == {} and sim.store.nvm_writes == writes
        assert again.results[0].status == "unchanged" and "interrupted earlier write had completed" in (
            again.results[0].action.reason
        )


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
        (tmp_path / "m.toml").write_text(
            manifest_text(ca="{imei}/ca.pem", client="{imei}/client.pem", key="{imei}/client.key")
        )
        assert apply(dev, load_manifest(tmp_path / "m.toml")).ok
        assert sim.store.nvm_writes == 3
