"""Doctor's rule engine: pure functions over observations (no device)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from credwarden.errors import ExitCode
from credwarden.field.doctor_rules import diagnose
from credwarden.field.findings import (
    ExpiryCheck,
    ManifestCheck,
    Observations,
    PowerOffWarningProbe,
    ReadCheck,
    Severity,
)
from credwarden.field.firmware import firmware_facts
from credwarden.models import DeviceInfo, StoredEntry

NOW = datetime(2026, 11, 21, tzinfo=UTC)
SHA = "2C43952EE9E000FF2ACC4E2ED0897C0A72AD5FA72C3D934E81741CBD54F05BD1"


def _info(firmware: str | None = "mfw_nrf91x1_2.0.2", cfun: int | None = 1) -> DeviceInfo:
    return DeviceInfo("352656100367872", "nRF9151-LACA", firmware, None, None, None, cfun, "at_client")


def _healthy_entries() -> tuple[StoredEntry, ...]:
    return (
        StoredEntry(42, 0, SHA),
        StoredEntry(42, 1, "B9BAC15641653CAE2B5151DCBD0C40DDCDF19125950FA2475977437EA35F7A45"),
        StoredEntry(42, 2, "3EB33ABEB054A64578ED0ACF2BC13D570557FDEB413566D3D4678A2B89F65695"),
        StoredEntry(4294967292, 11, "20" * 32),
    )


def _codes(obs: Observations) -> set[str]:
    return {f.code for f in diagnose(obs, now=NOW).findings}


def test_healthy_device_has_no_error_and_exit_0() -> None:
    report = diagnose(Observations(_info(), _healthy_entries()), now=NOW)
    assert report.errors == 0 and report.exit_code is ExitCode.OK
    assert "tags.reserved" in {f.code for f in report.findings}


@pytest.mark.parametrize(
    ("firmware", "family", "real", "validates"),
    [
        ("mfw_nrf9160_1.3.5", "nrf9160", True, False),
        ("mfw_nrf9160_1.2.3", "nrf9160", False, False),
        ("mfw_nrf9160_1.3.0-FOTA-TEST", "nrf9160", None, False),
        ("mfw_nrf91x1_2.0.2", "nrf91x1", True, True),
        ("mfw_nrf9161_2.0.0", "nrf91x1", True, False),
        ("mfw_nrf9151-ntn_1.0.0-1.alpha", "nrf9151-ntn", True, True),
        ("mfw-pti_nrf91x1_2.3.3", "nrf91x1", True, True),
        ("garbage", "unknown", None, None),
    ],
)
def test_firmware_facts(firmware: str, family: str, real: bool | None, validates: bool | None) -> None:
    facts = firmware_facts(firmware)
    assert (facts.family, facts.real_digests, facts.validates_certificates) == (family, real, validates)


def test_old_firmware_findings() -> None:
    codes = _codes(Observations(_info("mfw_nrf9160_0.7.0-29.alpha"), _healthy_entries()))
    assert {"firmware.file-system", "firmware.placeholder-digests"} <= codes
    assert "firmware.placeholder-digests" in _codes(Observations(_info("mfw_nrf9160_1.2.3"), _healthy_entries()))
    assert "firmware.validates-certificates" in _codes(Observations(_info(), _healthy_entries()))
    assert "firmware.unknown" in _codes(Observations(_info(None), _healthy_entries()))


def test_placeholder_digest_on_new_firmware_is_suspicious() -> None:
    entries = (StoredEntry(42, 0, "00" * 32), StoredEntry(42, 1, "01" * 32), StoredEntry(42, 2, "02" * 32))
    assert "entries.placeholder-on-new-firmware" in _codes(Observations(_info(), entries))
    assert "entries.placeholder-on-new-firmware" not in _codes(Observations(_info("mfw_nrf9160_1.2.3"), entries))


@pytest.mark.parametrize(
    ("cfun", "code"), [(4, "cfun.offline"), (1, "cfun.online"), (0, "cfun.minimum"), (None, "cfun.unknown")]
)
def test_cfun_states(cfun: int | None, code: str) -> None:
    assert code in _codes(Observations(_info(cfun=cfun), _healthy_entries()))


def test_power_off_warning_active_is_an_error() -> None:
    probe = PowerOffWarningProbe("active", "read probe", "+CME ERROR: 528 on AT%CMNG=2,42,0")
    report = diagnose(Observations(_info(), _healthy_entries(), power_off_warning=probe), now=NOW)
    assert report.exit_code is ExitCode.FAILURE
    finding = next(f for f in report.findings if f.code == "power.off-warning-active")
    assert finding.severity is Severity.ERROR and "XPOFWARN" in (finding.fix or "")


def test_truncated_read_is_a_buffer_error() -> None:
    read = ReadCheck(42, 0, SHA, 2690, "AB" * 32, False)
    report = diagnose(Observations(_info(), _healthy_entries(), reads=(read,)), now=NOW)
    finding = next(f for f in report.findings if f.code == "buffer.read-truncated")
    assert finding.sec_tag == 42 and "2700" in finding.detail


def test_corrupt_content_stored_through_the_at_host_is_not_a_buffer_problem() -> None:
    """The read matches the listed digest: what came back is what is stored, so the entry itself is bad."""
    for read in (ReadCheck(42, 0, SHA, 900, SHA, False), ReadCheck(42, 0, SHA, 900, SHA, True, None, False)):
        report = diagnose(Observations(_info(), _healthy_entries(), reads=(read,)), now=NOW)
        codes = {f.code for f in report.findings}
        assert "content.invalid" in codes and not {c for c in codes if c.startswith("buffer")}
        finding = next(f for f in report.findings if f.code == "content.invalid")
        assert "not a valid certificate" in finding.title and "credwarden write 42 root-ca" in (finding.fix or "")
        assert "shell" not in finding.detail.lower()


@pytest.mark.parametrize(
    ("dialect", "setting"),
    [("shell", "CONFIG_AT_SHELL_CMD_RESPONSE_MAX_LEN"), ("at_client", "CONFIG_AT_HOST_CMD_MAX_LEN")],
)
def test_a_cut_read_names_the_buffer_of_the_front_end_in_use(dialect: str, setting: str) -> None:
    info = DeviceInfo("352656100367872", "nRF9151-LACA", "mfw_nrf91x1_2.0.2", None, None, None, 1, dialect)
    read = ReadCheck(42, 0, SHA, 1500, "AB" * 32, False)
    finding = next(
        f
        for f in diagnose(Observations(info, _healthy_entries(), reads=(read,)), now=NOW).findings
        if f.code == "buffer.read-truncated"
    )
    assert setting in (finding.fix or "")
    other = {"shell": "CONFIG_AT_HOST_CMD_MAX_LEN", "at_client": "CONFIG_AT_SHELL"}[dialect]
    assert other not in (finding.fix or "") + finding.detail


def test_placeholder_firmware_cannot_tell_a_bad_entry_from_a_cut_read() -> None:
    placeholder = "00" * 32
    entries = (StoredEntry(42, 0, placeholder),)
    read = ReadCheck(42, 0, placeholder, 700, "AB" * 32, False)
    codes = _codes(Observations(_info("mfw_nrf9160_1.2.3"), entries, reads=(read,)))
    assert "content.unproven-invalid" in codes and "content.invalid" not in codes


def test_matching_read_is_fine_and_failed_read_is_a_warning() -> None:
    ok = ReadCheck(42, 0, SHA, 1188, SHA, True)
    assert not {c for c in _codes(Observations(_info(), _healthy_entries(), reads=(ok,))) if c.startswith("buffer")}
    failed = ReadCheck(42, 0, SHA, None, None, None, "timeout")
    assert "buffer.read-failed" in _codes(Observations(_info(), _healthy_entries(), reads=(failed,)))


def test_manifest_statuses() -> None:
    checks = (
        ManifestCheck(42, 0, "ok"),
        ManifestCheck(43, 0, "missing"),
        ManifestCheck(44, 1, "different"),
        ManifestCheck(45, 0, "truncated"),
        ManifestCheck(46, 2, "unverifiable"),
    )
    report = diagnose(Observations(_info(), _healthy_entries(), manifest=checks), now=NOW)
    by_code = {f.code: f for f in report.findings}
    assert by_code["manifest.missing"].severity is Severity.ERROR
    assert by_code["manifest.truncated"].sec_tag == 45
    assert by_code["manifest.different"].severity is Severity.ERROR
    assert by_code["manifest.unverifiable"].severity is Severity.WARNING
    assert "manifest.ok" not in by_code


def test_expiry() -> None:
    expiries = (
        ExpiryCheck(42, 1, NOW - timedelta(days=400), NOW - timedelta(days=1), "%CERTEXPIRY"),
        ExpiryCheck(43, 1, NOW - timedelta(days=400), NOW + timedelta(days=10), "read-back"),
        ExpiryCheck(44, 0, NOW + timedelta(days=2), NOW + timedelta(days=900), "read-back"),
        ExpiryCheck(45, 0, NOW - timedelta(days=2), NOW + timedelta(days=900), "read-back"),
    )
    report = diagnose(Observations(_info(), _healthy_entries(), expiries=expiries), now=NOW)
    codes = [(f.code, f.sec_tag) for f in report.findings if f.code.startswith("cert.")]
    assert sorted(codes) == [("cert.expired", 42), ("cert.expiring", 43), ("cert.not-yet-valid", 44)]
    assert report.exit_code is ExitCode.FAILURE


def test_tag_rules() -> None:
    entries = (
        StoredEntry(16842753, 0, SHA),
        StoredEntry(2147483650, 0, SHA),
        StoredEntry(4294967295, 3, "03" * 32),
        StoredEntry(7, 1, SHA),
        StoredEntry(8, 3, SHA),
        StoredEntry(9, 0, SHA),
        StoredEntry(9, 0, SHA),
    )
    codes = _codes(Observations(_info(), entries))
    assert {
        "tags.nrf-cloud",
        "tags.tls-decrypt",
        "tags.reserved-unexpected",
        "tags.incomplete-identity",
        "tags.psk-without-identity",
        "entries.duplicate",
    } <= codes


def test_empty_store_and_sorting() -> None:
    report = diagnose(
        Observations(_info(cfun=4), (), power_off_warning=PowerOffWarningProbe("active", "AT%XPOFWARN?")), now=NOW
    )
    assert "entries.empty" in {f.code for f in report.findings}
    ranks = [f.severity.rank for f in report.findings]
    assert ranks == sorted(ranks)
    data = report.to_json()
    assert data["summary"]["errors"] == report.errors and data["exit_code"] == 1


@pytest.mark.parametrize(("dialect", "code"), [("shell", "dialect.shell"), ("slm", "dialect.slm")])
def test_dialect_notes(dialect: str, code: str) -> None:
    info = DeviceInfo("352656100367872", None, "mfw_nrf9160_1.3.5", (1, 3, 5), None, None, 1, dialect)
    assert code in _codes(Observations(info, _healthy_entries()))
