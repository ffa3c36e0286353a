"""A store larger than the NCS shell's response buffer (E2BIG on the full list), through a real pty: plan, apply,
doctor and delete of given tags list the sec_tags they know one by one and say what they could not see."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import credwarden.api as cw
from credwarden.at.timeouts import TimeoutPolicy
from credwarden.errors import AnswerTooLarge, UsageError
from credwarden.field.doctor import run_doctor
from credwarden.field.sample_manifest import write_campaign_manifest
from credwarden.modem.listing import list_store
from credwarden.provision.apply import apply, plan
from credwarden.sim import SimModem

POLICY = TimeoutPolicy().scaled(0.2)
CA = "-----BEGIN CERTIFICATE-----\\nMIIB{index:04d}\\n-----END CERTIFICATE-----\\n"


@pytest.fixture
def big_shell(make_sim: Callable[..., SimModem]) -> Iterator[tuple[SimModem, str]]:
    """A shell device holding 40 user entries + the modem's own: the full list does not fit 2700 bytes."""
    sim = make_sim(frontend="shell", profile="2.0.2")
    for index in range(40):
        assert sim.execute(f'AT%CMNG=0,{1000 + index},4,"identity-{index:04d}"').endswith("OK\r\n")
    with sim.serve_pty() as path:
        yield sim, path


def test_full_list_is_too_large_and_known_tags_are_listed_one_by_one(big_shell: tuple[SimModem, str]) -> None:
    _, path = big_shell
    with cw.connect(path, timeouts=POLICY) as dev:
        with pytest.raises(AnswerTooLarge, match=r"E2BIG|-7"):
            dev.list()
        view = list_store(dev, [1003, 1005, 77])
    assert not view.complete and view.listed_tags == (77, 1003, 1005)
    assert [(e.sec_tag, e.type) for e in view.entries] == [(1003, 4), (1005, 4)]
    assert view.unseen is not None and "other sec_tag" in view.unseen and "77, 1003, 1005" in view.unseen


def test_plan_and_apply_work_on_a_store_too_large_to_list(big_shell: tuple[SimModem, str], tmp_path: Path) -> None:
    sim, path = big_shell
    manifest = write_campaign_manifest(tmp_path)
    with cw.connect(path, timeouts=POLICY) as dev:
        planned = plan(dev, manifest, journal_dir=tmp_path / "journal")
        assert planned.changes and any("could not be seen" in note for note in planned.notes)
        report = apply(dev, manifest, journal_dir=tmp_path / "journal")
        assert report.ok, report.to_json()
        assert any("42, 43" in w and "could not be seen" in w for w in report.warnings)
        assert report.final_entries is None  # a partial view is never handed on as the whole store
        again = apply(dev, manifest, journal_dir=tmp_path / "journal")
    assert again.ok and again.nvm_operations == 0
    assert {(e.sec_tag, e.type) for e in sim.store if e.sec_tag in (42, 43)} == {
        (42, 0),
        (42, 1),
        (42, 2),
        (43, 3),
        (43, 4),
    }
    assert sum(1 for e in sim.store if 1000 <= e.sec_tag < 1040) == 40  # nothing else touched


def test_doctor_lists_the_manifest_tags_and_says_what_it_could_not_see(
    big_shell: tuple[SimModem, str], tmp_path: Path
) -> None:
    manifest = write_campaign_manifest(tmp_path)
    with cw.connect(path_of(big_shell), timeouts=POLICY) as dev:
        report = run_doctor(dev, manifest=manifest)
        bare = run_doctor(dev)
    details = [f.detail for f in report.findings]
    assert any("could not be seen" in d and "42, 43" in d for d in details)
    assert any(f.code == "manifest.missing" or "missing" in f.code for f in report.findings)
    assert any("listed sec_tag none" in f.detail for f in bare.findings)


def test_delete_of_given_tags_works_without_the_full_list(big_shell: tuple[SimModem, str]) -> None:
    sim, path = big_shell
    with cw.connect(path, timeouts=POLICY) as dev:
        outcomes = dev.delete_all(tags=range(1000, 1030))
        with pytest.raises(UsageError):
            dev.delete_all(tags=[4294967293])  # a modem-owned tag is refused before anything is sent
        remaining = dev.list()  # 10 user entries left: the full list fits again
    assert len(outcomes) == 30 and all(o.deleted for o in outcomes)
    assert sorted(e.sec_tag for e in remaining if e.sec_tag < 2**31) == list(range(1030, 1040))
    assert sim.store.get(1030, 4) is not None


def path_of(fixture: tuple[SimModem, str]) -> str:
    return fixture[1]


def test_plan_cli_says_what_it_could_not_see(big_shell: tuple[SimModem, str], tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    manifest = write_campaign_manifest(tmp_path)
    env = dict(os.environ, CREDWARDEN_DB=str(tmp_path / "inv.db"), CREDWARDEN_STATE_DIR=str(tmp_path / "state"))
    command = [str(Path(sys.executable).with_name("credwarden")), "plan", str(manifest), "--port", path_of(big_shell)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 9, done.stderr  # changes pending
    assert "could not be seen" in " ".join(done.stdout.split()) and "Traceback" not in done.stderr
