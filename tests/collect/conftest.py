"""Collector tests run on SQLite and on the real PostgreSQL server, like the inventory's (same fixtures), and
against a real mosquitto broker started by scripts/with-mosquitto.sh (`make test` does it)."""

from __future__ import annotations

import os

import pytest

from inventory.conftest import db_url, inv  # noqa: F401  (fixtures shared with the inventory tests)

MQTT_ENV = "CREDWARDEN_TEST_MQTT_URL"


@pytest.fixture
def mqtt_url() -> str:
    url = os.environ.get(MQTT_ENV)
    if not url:
        pytest.skip(f"no MQTT broker: set {MQTT_ENV} (scripts/with-mosquitto.sh does it; `make test` runs it)")
    return url
