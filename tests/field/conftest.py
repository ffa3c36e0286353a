"""Fixtures of the field tests: a campaign manifest with throwaway credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from credwarden.field.sample_manifest import write_campaign_manifest


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return write_campaign_manifest(tmp_path)
