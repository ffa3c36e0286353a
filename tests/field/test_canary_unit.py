"""Canary logic against a minimal in-memory device (the simulator test is in test_canary_sim.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from credwarden.creds.encoding import sha256_hex
from credwarden.errors import ExitCode, UsageError
from credwarden.field.canary import SCRATCH_TYPE, parse_watch, plan_canary, run_canary
from credwarden.models import StoredEntry


class MemoryDevice:
    """Stores digests; optionally drops `victim` after `wipe_after` writes."""

    def __init__(self, victim: tuple[int, int] | None = None, wipe_after: int = 0) -> None:
        self.store: dict[tuple[int, int], str] = {(42, 0): "AA" * 32, (42, 1): "BB" * 32, (7, 3): "CC" * 32}
        self.writes = 0
        self.offline_depth = 0
        self.victim, self.wipe_after = victim, wipe_after

    def list(self, sec_tag: int | None = None, type: int | None = None) -> list[StoredEntry]:
        return [
            StoredEntry(t, ty, sha)
            for (t, ty), sha in self.store.items()
            if (sec_tag is None or t == sec_tag) and (type is None or ty == type)
        ]

    def write(self, sec_tag: int, type: int, content: bytes, password: str | None = None) -> None:
        assert self.offline_depth > 0
        self.store[(sec_tag, type)] = sha256_hex(content)
        self.writes += 1
        if self.victim and self.writes == self.wipe_after:
            self.store.pop(self.victim, None)

    def delete(self, sec_tag: int, type: int) -> None:
        assert self.offline_depth > 0
        del self.store[(sec_tag, type)]

    @contextmanager
    def offline(self) -> Iterator[None]:
        self.offline_depth += 1
        try:
            yield
        finally:
            self.offline_depth -= 1


def test_clean_run_alternates_contents_and_cleans_up() -> None:
    dev = MemoryDevice()
    seen: list[int] = []
    result = run_canary(dev, plan_canary(900, (42, 7), 10), progress=lambda c, n: seen.append(c))
    assert result.clean and result.cycles_done == 10 and result.exit_code is ExitCode.OK
    assert seen == list(range(1, 11))
    assert dev.writes == 10 and result.nvm_writes == 11  # 10 writes + final delete of the scratch entry
    assert (900, SCRATCH_TYPE) not in dev.store


def test_wipe_is_caught_at_the_right_cycle() -> None:
    dev = MemoryDevice(victim=(42, 1), wipe_after=6)
    result = run_canary(dev, plan_canary(900, (42,), 50))
    assert not result.clean and result.changed_at_cycle == 6 and result.cycles_done == 6
    assert [(c.sec_tag, c.type, c.kind) for c in result.changes] == [(42, 1, "vanished")]
    assert result.exit_code is ExitCode.VERIFICATION
    assert result.to_json()["changes"][0]["change"] == "vanished"


def test_delete_write_mode_counts_deletes() -> None:
    dev = MemoryDevice()
    result = run_canary(dev, plan_canary(900, (42,), 3, mode="delete-write"))
    assert result.clean and result.nvm_writes == 3 + 2 + 1


def test_refusals() -> None:
    with pytest.raises(UsageError, match="also watched"):
        plan_canary(42, (42, 7), 3)
    with pytest.raises(UsageError, match="cycles"):
        plan_canary(900, (42,), 0)
    dev = MemoryDevice()
    with pytest.raises(UsageError, match="other data"):
        run_canary(dev, plan_canary(7, (42,), 3))
    assert dev.writes == 0
    result = run_canary(dev, plan_canary(7, (42,), 2, force=True))
    assert result.clean and (7, 3) in dev.store  # other types on the scratch tag are left alone


@pytest.mark.parametrize("bad", ["", "a,b", "42;43", ","])
def test_parse_watch_rejects_garbage(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_watch(bad)


def test_parse_watch() -> None:
    assert parse_watch("42, 43,42") == (42, 43)


def test_a_device_error_stops_the_run_but_keeps_the_progress() -> None:
    from credwarden.errors import PowerOffWarning

    class Failing(MemoryDevice):
        def write(self, sec_tag: int, type: int, content: bytes, password: str | None = None) -> None:
            if self.writes == 4:
                raise PowerOffWarning(528, command="AT%CMNG=0,900,4,...")
            super().write(sec_tag, type, content, password)

    dev = Failing()
    result = run_canary(dev, plan_canary(900, (42,), 10))
    assert result.cycles_done == 4 and result.nvm_writes == 4
    assert result.error is not None and "528" in result.error
    assert result.exit_code is ExitCode.MODEM_REFUSED
    assert result.to_json()["error"] == result.error
