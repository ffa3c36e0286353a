"""`credwarden.field.explain`: every accepted input form, ambiguity, and clear errors for bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credwarden.cme import CME_TABLE
from credwarden.field.errno_tables import SCHEMES
from credwarden.field.explain import ExplainInputError, explain


def _names(query: str) -> list[tuple[str, str]]:
    return [(i.scheme, i.name) for i in explain(query).interpretations]


def test_minus_45_is_bsdlib_eopnotsupp_first_and_ambiguous() -> None:
    result = explain("-45")
    assert result.ambiguous
    first = result.interpretations[0]
    assert (first.scheme, first.name) == ("bsdlib", "EOPNOTSUPP")
    assert first.credential_related and first.check and "doctor" in first.check
    assert ("nrf_modem", "EDEADLK") in _names("-45")


def test_unsigned_45_gives_the_same_readings() -> None:
    assert _names("45") == _names("-45")


@pytest.mark.parametrize("query", ["+CME ERROR: 527", "527", "CME ERROR 527", "+cme error:527"])
def test_cme_527_forms(query: str) -> None:
    result = explain(query)
    assert result.number == 527
    assert result.interpretations[0].scheme == "cme"
    assert "527" in result.interpretations[0].name
    assert "plan" in (result.interpretations[0].check or "")


def test_113_lists_both_numberings() -> None:
    result = explain("113")
    assert result.ambiguous
    names = _names("113")
    assert ("nrf_modem", "ECONNABORTED") in names
    assert ("linux", "EHOSTUNREACH") in names
    assert result.interpretations[0].name == "ECONNABORTED"  # the credential-related one first


@pytest.mark.parametrize("query", ["ECONNREFUSED", "-NRF_ECONNREFUSED", "nrf_econnrefused", "-111"])
def test_econnrefused_points_at_credentials(query: str) -> None:
    first = explain(query).interpretations[0]
    assert first.name == "ECONNREFUSED" and first.credential_related
    assert "certificate" in first.credential_cause


@pytest.mark.parametrize(
    ("code", "name"), [(126, "ENOKEY"), (127, "EKEYEXPIRED"), (128, "EKEYREVOKED"), (129, "EKEYREJECTED")]
)
def test_key_errors_in_bsdlib_vs_nrf_modem(code: int, name: str) -> None:
    result = explain(str(-code))
    assert result.ambiguous
    assert result.interpretations[0].name == name
    nrf = [i for i in result.interpretations if i.scheme == "nrf_modem"]
    assert nrf and nrf[0].name != name and not nrf[0].credential_related


def test_140_is_power_off_warning_cancel() -> None:
    first = explain("-140").interpretations[0]
    assert first.name == "ECANCELED" and "528" in first.credential_cause


def test_log_lines_are_accepted() -> None:
    assert explain("mqtt_connect, error: -111").number == -111
    assert explain("Failed to delete cert, err -140").number == -140
    assert explain("AT%CMNG=0 -> +CME ERROR: 518").number == 518


def test_network_errors_say_not_credentials() -> None:
    timed_out = [i for i in explain("-116").interpretations if i.name == "ETIMEDOUT"]
    assert timed_out and not timed_out[0].credential_related


def test_every_cme_code_is_explained() -> None:
    for code in CME_TABLE:
        result = explain(f"+CME ERROR: {code}")
        assert result.interpretations[0].meaning
        assert result.interpretations[0].credential_cause


def test_json_shape_is_stable() -> None:
    data = explain("-45").to_json()
    assert set(data) == {"query", "number", "ambiguous", "interpretations"}
    assert set(data["interpretations"][0]) == {
        "scheme",
        "scheme_label",
        "code",
        "name",
        "meaning",
        "credential_related",
        "credential_cause",
        "check",
    }


@pytest.mark.parametrize("bad", ["", "   ", "hello", "-99999", "EFOOBAR", "+CMS ERROR: 500", "-527"])
def test_bad_input_raises_a_clear_error(bad: str) -> None:
    with pytest.raises(ExplainInputError) as info:
        explain(bad)
    assert str(info.value)


@given(st.text(max_size=40))
def test_never_raises_anything_but_input_error(text: str) -> None:
    try:
        result = explain(text)
    except ExplainInputError:
        return
    assert result.interpretations


@given(st.sampled_from(sorted({c for s in SCHEMES for c in s.codes})))
def test_every_known_errno_number_is_explained(code: int) -> None:
    assert explain(str(-code)).interpretations
