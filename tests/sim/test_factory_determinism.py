"""Factory (modem-owned) entries are a function of the device: same UUID, same bytes and digests, every start."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import MakeSim

from credwarden import api
from credwarden.types import FACTORY_ENTRIES

OTHER_UUID = "9a1f03c2-6d4e-4c1b-9e55-0f6a2b7c8d90"


def _factory_digests(make_sim: MakeSim, **config: object) -> dict[tuple[int, int], str]:
    sim = make_sim(**config)
    return {key: sim.store.get(*key).sha for key in FACTORY_ENTRIES}  # type: ignore[union-attr]


def test_same_device_same_factory_digests_across_starts(make_sim: MakeSim) -> None:
    first = _factory_digests(make_sim)
    again = _factory_digests(make_sim)
    assert first == again
    assert len(set(first.values())) == len(FACTORY_ENTRIES)
    other = _factory_digests(make_sim, device_uuid=OTHER_UUID)
    assert all(other[key] != first[key] for key in FACTORY_ENTRIES)


def test_factory_entries_are_persisted_and_reloaded_from_the_state_file(make_sim: MakeSim, tmp_path: Path) -> None:
    state = tmp_path / "modem.json"
    before = _factory_digests(make_sim, state_file=state)
    saved = json.loads(state.read_text(encoding="utf-8"))
    saved_keys = {(item["sec_tag"], item["type"]) for item in saved["entries"]}
    assert set(FACTORY_ENTRIES) <= saved_keys
    assert _factory_digests(make_sim, state_file=state) == before


def test_sim_urls_list_the_same_factory_digests_every_open() -> None:
    def listed() -> dict[tuple[int, int], str | None]:
        with api.connect("sim://?profile=1.3.5", mode="at_client") as dev:
            return {(e.sec_tag, e.type): e.sha256 for e in dev.list() if (e.sec_tag, e.type) in FACTORY_ENTRIES}

    first = listed()
    assert set(first) == set(FACTORY_ENTRIES)
    assert listed() == first
