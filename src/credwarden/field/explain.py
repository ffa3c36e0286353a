"""`credwarden explain`: what a number from an application log means for the credentials.

Accepts `-45`, `45`, `+CME ERROR: 527`, `527`, `ECONNREFUSED`, `-NRF_ECONNREFUSED`, or a log fragment such as
`mqtt_connect, error: -111`. Ambiguous numbers list every interpretation (the errno numbering changed between
bsdlib and nrf_modem: modem-behaviour.md#errno-numbering). Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from credwarden.cme import CME_TABLE, cme_info
from credwarden.field.errno_tables import CAUSES, NOT_CREDENTIAL, SCHEMES, ErrnoScheme

_CME_HINT_COMMANDS: dict[int, str] = {
    513: "credwarden list --port PORT --tag SEC_TAG",
    514: "credwarden list --port PORT --tag SEC_TAG (verify by digest)",
    515: "credwarden list --port PORT",
    518: "credwarden doctor --port PORT (CFUN state)",
    519: "credwarden list --port PORT --tag SEC_TAG",
    527: "credwarden plan MANIFEST (validates PEM before writing)",
    528: "credwarden doctor --port PORT (power-off warning probe)",
    23: "credwarden doctor --port PORT (buffer-size check)",
    0: "credwarden info --port PORT (firmware version)",
}

_CME_RE = re.compile(r"^\+?\s*CM([ES])\s*(?:ERROR)?\s*:?\s*(\d+)$", re.IGNORECASE)
_INT_RE = re.compile(r"^[-+]?\d+$")
_NAME_RE = re.compile(r"^-?\s*(?:NRF_)?(E[A-Z0-9]+)$", re.IGNORECASE)
_LOG_RE = re.compile(r"(?:\berr(?:or|no)?\b|\bret(?:urn)?\b|\brc\b)\s*[:=]?\s*(-?\d+)", re.IGNORECASE)
_LOG_CME_RE = re.compile(r"\+CM([ES]) ERROR:\s*(\d+)", re.IGNORECASE)


class ExplainInputError(ValueError):
    """The text given to `explain` is not a number, a CME result or an errno name."""


@dataclass(frozen=True)
class Interpretation:
    """One reading of the number: a CME code or an errno in one numbering scheme."""

    scheme: str  #: "cme" | "nrf_modem" | "bsdlib" | "linux"
    scheme_label: str
    code: int
    name: str  #: "ECONNREFUSED", "CME 527"
    meaning: str
    credential_related: bool
    credential_cause: str
    check: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "scheme_label": self.scheme_label,
            "code": self.code,
            "name": self.name,
            "meaning": self.meaning,
            "credential_related": self.credential_related,
            "credential_cause": self.credential_cause,
            "check": self.check,
        }


@dataclass(frozen=True)
class Explanation:
    """Every interpretation of one query, most relevant first."""

    query: str
    number: int | None  #: the number as given (sign kept); None for a bare errno name
    interpretations: tuple[Interpretation, ...]

    @property
    def ambiguous(self) -> bool:
        return len({(i.name, i.scheme == "cme") for i in self.interpretations}) > 1

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "number": self.number,
            "ambiguous": self.ambiguous,
            "interpretations": [i.to_json() for i in self.interpretations],
        }


def explain(text: str) -> Explanation:
    """Explain `text`; raise ExplainInputError with the accepted forms when it cannot be read."""
    query = text.strip()
    if not query:
        raise ExplainInputError(
            "nothing to explain: give a number (-45, 527), '+CME ERROR: 527' or a name (ECONNREFUSED)"
        )
    cme = _CME_RE.match(query) or _LOG_CME_RE.search(query)
    if cme is not None:
        if cme.group(1).upper() == "S":
            raise ExplainInputError(
                f"{query!r} is a +CMS ERROR (SMS service), not a credential error; credwarden explains +CME codes"
            )
        code = int(cme.group(2))
        return Explanation(query, code, (_cme_interpretation(code),))
    if _INT_RE.match(query):
        return _explain_number(query, int(query))
    name = _NAME_RE.match(query)
    if name is not None:
        return _explain_name(query, name.group(1).upper())
    logged = _LOG_RE.search(query)
    if logged is not None:
        return _explain_number(query, int(logged.group(1)))
    raise ExplainInputError(
        f"cannot read {query!r}: give a number (-45, 113, 527), '+CME ERROR: 527', an errno name "
        "(ECONNREFUSED, NRF_EOPNOTSUPP) or a log line containing 'err -111' / 'error: -111'"
    )


def _explain_number(query: str, number: int) -> Explanation:
    magnitude = abs(number)
    found: list[Interpretation] = []
    errnos = [_errno_interpretation(scheme, magnitude) for scheme in SCHEMES if magnitude in scheme.codes]
    cme = _cme_interpretation(magnitude) if number >= 0 and (magnitude in CME_TABLE) else None
    if cme is not None and magnitude >= 500:
        found.append(cme)
        found.extend(errnos)
    else:
        found.extend(errnos)
        if cme is not None:
            found.append(cme)
    if not found:
        hint = " (CME codes are never negative)" if number < 0 and magnitude in CME_TABLE else ""
        raise ExplainInputError(
            f"{number} is neither a documented CME code nor an errno in the nrf_modem, bsdlib or Linux numbering{hint}"
        )
    found.sort(key=lambda i: not i.credential_related)
    return Explanation(query, number, tuple(found))


def _explain_name(query: str, name: str) -> Explanation:
    found = [
        _errno_interpretation(scheme, code)
        for scheme in SCHEMES
        for code, (known, _) in scheme.codes.items()
        if known == name
    ]
    if not found:
        raise ExplainInputError(f"unknown errno name {name!r}: not in the nrf_modem, bsdlib or Linux numbering")
    return Explanation(query, None, tuple(found))


def _errno_interpretation(scheme: ErrnoScheme, code: int) -> Interpretation:
    name, description = scheme.codes[code]
    cause = CAUSES.get(name)
    if cause is not None:
        related, text, check = cause.related, cause.cause, cause.check
    else:
        related, check = False, None
        text = NOT_CREDENTIAL.get(name, "no known link to credentials")
    return Interpretation(scheme.key, scheme.label, -code, name, description, related, text, check)


def _cme_interpretation(code: int) -> Interpretation:
    info = cme_info(code)
    ncs = f" (modem_key_mgmt returns {info.ncs_errno})" if info.ncs_errno else ""
    return Interpretation(
        "cme",
        "+CME ERROR from the modem",
        code,
        f"CME {code}",
        info.meaning + ncs,
        True,
        info.hint,
        _CME_HINT_COMMANDS.get(code),
    )
