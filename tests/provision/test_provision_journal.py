"""The write journal (tier 1: files in a temp dir, no device)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from credwarden.errors import UsageError
from credwarden.provision.journal import WriteJournal, default_journal_dir, device_key


def test_location_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CREDWARDEN_STATE_DIR", str(tmp_path / "s"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "x"))
    assert default_journal_dir() == tmp_path / "s" / "journal"
    monkeypatch.delenv("CREDWARDEN_STATE_DIR")
    assert default_journal_dir() == tmp_path / "x" / "credwarden" / "journal"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert default_journal_dir() == tmp_path / "h" / ".local" / "state" / "credwarden" / "journal"


def test_device_key_prefers_imei_and_is_file_safe() -> None:
    assert device_key("352656100367872", "u-1") == "imei-352656100367872"
    assert device_key(None, "50363154-3931/44f0") == "uuid-50363154-3931_44f0"
    assert device_key(None, None) is None


def test_begin_clear_roundtrip_holds_digests_only(tmp_path: Path) -> None:
    journal = WriteJournal.for_device("352656100367872", None, tmp_path)
    assert journal.pending() == {}
    journal.begin((42, 2), "write", "AB" * 32)
    journal.begin((42, 3), "delete", None)
    again = WriteJournal.for_device("352656100367872", None, tmp_path)  # what the next run sees
    assert set(again.pending()) == {(42, 2), (42, 3)}
    data = json.loads((tmp_path / "imei-352656100367872.json").read_text())
    assert data["version"] == 2 and data["ledger"] == {} and data["intents"]["42/2"]["expected_sha256"] == "AB" * 32
    assert set(data["intents"]["42/2"]) == {"sec_tag", "type", "operation", "expected_sha256", "time"}
    again.clear((42, 2), (42, 3))
    assert journal.pending() == {} and not (tmp_path / "imei-352656100367872.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary or lock files left


def test_ledger_records_completed_writes_and_forgets(tmp_path: Path) -> None:
    journal = WriteJournal.for_device("352656100367872", None, tmp_path)
    journal.begin((42, 2), "write", "ab" * 32)
    journal.complete((42, 2), "ab" * 32, "mfw_nrf9160_1.2.3")  # clears the intent and records, atomically
    again = WriteJournal.for_device("352656100367872", None, tmp_path)
    assert again.pending() == {}
    record = again.ledger()[(42, 2)]
    assert (record.sha256, record.firmware) == ("AB" * 32, "mfw_nrf9160_1.2.3") and record.time.endswith("Z")
    data = json.loads((tmp_path / "imei-352656100367872.json").read_text())
    assert set(data["ledger"]["42/2"]) == {"sec_tag", "type", "sha256", "time", "firmware"}
    journal.begin((42, 2), "write", "cd" * 32)  # a new write makes the record stale: dropped
    assert journal.ledger() == {} and set(journal.pending()) == {(42, 2)}
    journal.complete((42, 2), "cd" * 32, None)
    journal.forget((42, 2), (7, 0))
    assert journal.ledger() == {} and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="SHA-256"):
        journal.complete((1, 0), "abc", None)


def test_version_1_journal_is_read(tmp_path: Path) -> None:
    (tmp_path / "imei-1.json").write_text(
        '{"version": 1, "device": "imei-1", "intents": {"1/0": {"sec_tag": 1, '
        '"type": 0, "operation": "write", "expected_sha256": null, "time": ""}}}'
    )
    journal = WriteJournal.for_device("1", None, tmp_path)
    assert set(journal.pending()) == {(1, 0)} and journal.ledger() == {}


def test_unknown_identity_keeps_intents_in_memory(tmp_path: Path) -> None:
    journal = WriteJournal.for_device(None, None, tmp_path)
    journal.begin((1, 0), "write", None)
    assert set(journal.pending()) == {(1, 0)} and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "text",
    [
        "{",
        '{"version": 9, "intents": {}}',
        '{"version": 1, "intents": {"x": {}}}',
        '{"version": 1, "intents": {"1/0": {"sec_tag": 1, "type": 0, "operation": "zap"}}}',
        '{"version": 2, "intents": {}, "ledger": {"1/0": {"sec_tag": 1, "type": 0, "sha256": "x"}}}',
    ],
)
def test_corrupt_journal_is_a_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "imei-1.json").write_text(text)
    with pytest.raises(UsageError, match=r"write journal .* is corrupt"):
        WriteJournal.for_device("1", None, tmp_path).pending()


def test_threads_keep_each_others_intents(tmp_path: Path) -> None:
    journals = [WriteJournal.for_device("352656100367872", None, tmp_path) for _ in range(4)]

    def work(index: int) -> None:
        for tag in range(index * 10, index * 10 + 10):
            journals[index].begin((tag, 0), "write", None)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(journals[0].pending()) == 40
