"""The rules of `credwarden doctor`: pure functions from Observations to Findings (no I/O).

Background in docs/modem-behaviour.md: #sec_tags (tag ranges), #cfun-rules and #power-off-warning, #digests,
#firmware-generations, #front-ends and #content-rules (buffer sizes), #certexpiry, #field-reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from credwarden.field.findings import DoctorReport, Finding, Observations, Severity
from credwarden.field.firmware import FirmwareFacts, firmware_facts
from credwarden.types import (
    FACTORY_ENTRIES,
    NRF_CLOUD_SEC_TAG,
    CredType,
    is_placeholder_digest,
    is_tls_decrypt_tag,
    is_user_tag,
    type_name,
)

#: Default warning horizon for certificates about to expire.
DEFAULT_EXPIRY_WARNING = timedelta(days=30)
#: Answer buffers that cut big reads: at_shell default 2700, AT host / modem 4096 (modem-behaviour.md#front-ends).
KNOWN_BUFFER_SIZES = (2700, 4096)

Rule = Callable[[Observations, FirmwareFacts, datetime, timedelta], Iterable[Finding]]


def diagnose(
    obs: Observations,
    *,
    now: datetime,
    expiry_warning: timedelta = DEFAULT_EXPIRY_WARNING,
) -> DoctorReport:
    """Run every rule; findings sorted errors first, then by sec_tag."""
    facts = firmware_facts(obs.info.firmware, obs.info.firmware_version)
    findings: list[Finding] = []
    for rule in RULES:
        findings.extend(rule(obs, facts, now, expiry_warning))
    findings.sort(key=lambda f: (f.severity.rank, f.sec_tag if f.sec_tag is not None else -1, f.type or 0, f.code))
    extra = {"firmware": {"family": facts.family, "version": facts.version_text, "real_digests": facts.real_digests}}
    return DoctorReport(obs.info, tuple(findings), len(obs.entries), now, extra)


def firmware_rule(obs: Observations, facts: FirmwareFacts, now: datetime, horizon: timedelta) -> Iterable[Finding]:
    """Firmware version: unknown, pre-1.0 file-system losses, placeholder digests, 527 validation."""
    if facts.version is None:
        yield Finding(
            Severity.WARNING,
            "firmware.unknown",
            "modem firmware version unknown",
            f"AT+CGMR gave {obs.info.firmware!r}; digest format and content validation cannot be predicted",
            "check the modem firmware (`credwarden info`); upgrade to mfw 1.3.2+ (nRF9160) or 2.x (nRF91x1)",
        )
        return
    if facts.file_system_issues:
        yield Finding(
            Severity.ERROR,
            "firmware.file-system",
            f"mfw {facts.version_text}: credentials reported to vanish on firmware before 1.0.0",
            "Nordic: 'earlier versions pre modem 1.0.0 had issues with file system'; devices lost their "
            "credentials after months in the field (TLS errors -45)",
            "upgrade the modem firmware to 1.3.x, then re-provision (`credwarden apply MANIFEST`)",
        )
    if facts.real_digests is False:
        yield Finding(
            Severity.WARNING,
            "firmware.placeholder-digests",
            f"mfw {facts.version_text} prints placeholder digests",
            "firmware before 1.3 lists the type byte x32 instead of a SHA-256: content of types 1/2/3 "
            "cannot be verified on the device; only presence can",
            "upgrade to mfw 1.3.2+ for digest verification",
        )
    elif facts.real_digests is None and facts.family == "nrf9160":
        yield Finding(
            Severity.INFO,
            "firmware.digests-uncertain",
            f"mfw {facts.version_text}: digest support not confirmed",
            "real SHA-256 digests are confirmed from 1.3.2 (nRF Cloud tooling refuses verification below it)",
            None,
        )
    if facts.validates_certificates:
        yield Finding(
            Severity.INFO,
            "firmware.validates-certificates",
            f"mfw {facts.version_text} validates certificate content (CME 527)",
            "types 0 and 1 must be well-formed PEM with real LF newlines; literal '\\n' or pasted CRLF is "
            "rejected with +CME ERROR: 527",
            "validate before writing: `credwarden plan MANIFEST`",
        )


def dialect_rule(obs: Observations, facts: FirmwareFacts, now: datetime, horizon: timedelta) -> Iterable[Finding]:
    """The application firmware in front of the modem changes what is stored and how much can be read."""
    if obs.info.dialect == "shell":
        yield Finding(
            Severity.INFO,
            "dialect.shell",
            "reached through the NCS shell `at` command",
            "with CONFIG_AT_SHELL_UNESCAPE_LF the shell stores PEM with CRLF line endings, so digests differ from "
            "the same file written through at_client; responses are cut at CONFIG_AT_SHELL_CMD_RESPONSE_MAX_LEN "
            "(default 2700 bytes)",
            "compare digests with `credwarden plan` (it predicts the shell's encoding), not with a hand-computed "
            "sha256",
        )
    elif obs.info.dialect == "slm":
        yield Finding(
            Severity.INFO,
            "dialect.slm",
            "reached through the Serial LTE Modem / Serial Modem application",
            "SLM's native-TLS credentials (AT#XCMNG) live elsewhere (modem tags tag*10+type, or settings storage); "
            "this report covers the modem store (%CMNG)",
            None,
        )


def placeholder_rule(obs: Observations, facts: FirmwareFacts, now: datetime, horizon: timedelta) -> Iterable[Finding]:
    """Placeholder digests in the list: expected on old firmware, suspicious on new."""
    placeholders = [e for e in obs.entries if e.placeholder_digest and is_user_tag(e.sec_tag)]
    if placeholders and facts.real_digests:
        yield Finding(
            Severity.WARNING,
            "entries.placeholder-on-new-firmware",
            f"{len(placeholders)} entries list placeholder digests on mfw {facts.version_text}",
            "firmware reporting real digests should not print the type byte x32; the entries may have been "
            "written by old firmware before an upgrade, or the firmware string is wrong",
            "re-provision those entries (`credwarden apply MANIFEST`) so that digests can be verified",
        )
    missing_sha = [e for e in obs.entries if e.sha256 is None]
    for entry in missing_sha:
        yield Finding(
            Severity.INFO,
            "entries.no-digest",
            f"sec_tag {entry.sec_tag} {entry.type_name}: listed without a digest",
            "the firmware printed no SHA for this entry; it cannot be verified by digest",
            None,
            entry.sec_tag,
            entry.type,
        )


def cfun_rule(obs: Observations, facts: FirmwareFacts, now: datetime, horizon: timedelta) -> Iterable[Finding]:
    """Functional mode: unknown, offline (possibly left so by a tool), online."""
    cfun = obs.info.cfun
    if cfun is None:
        yield Finding(
            Severity.WARNING,
            "cfun.unknown",
            "functional mode (CFUN) could not be read",
            "AT+CFUN? gave no usable answer",
            "check the connection and the application firmware's AT interface",
        )
    elif cfun == 4:
        yield Finding(
            Severity.WARNING,
            "cfun.offline",
            "modem is offline (CFUN=4, flight mode)",
            "a device in the field needs CFUN=1 to connect; tools such as nrfcredstore switch to CFUN=4 and never "
            "restore it (credwarden restores the previous mode itself)",
            "let the application start LTE, or send AT+CFUN=1 if this device should be online",
        )
    elif cfun == 0:
        yield Finding(
            Severity.INFO,
            "cfun.minimum",
            "modem is in minimum functionality (CFUN=0)",
            "writes and deletes are allowed; the radio is off",
            None,
        )
    elif cfun in (1, 2, 21):
        yield Finding(
            Severity.INFO,
            "cfun.online",
            f"modem is online (CFUN={cfun})",
            "writes/deletes need the modem offline (CME 518); credwarden switches to CFUN=4 for them and restores "
            f"CFUN={cfun} afterwards. doctor itself never changes CFUN",
            None,
        )


def power_off_warning_rule(
    obs: Observations, facts: FirmwareFacts, now: datetime, horizon: timedelta
) -> Iterable[Finding]:
    """A latched power-off warning blocks every NVM update (CME 528)."""
    probe = obs.power_off_warning
    if probe is None:
        return
    if probe.state == "active":
        yield Finding(
            Severity.ERROR,
            "power.off-warning-active",
            "power-off warning is active: credential writes and deletes are blocked (CME 528)",
            f"{probe.method}: {probe.detail}".rstrip(": ")
            + ". The modem latched a low-voltage warning; NVM updates (and per Nordic support also reads) are "
            "refused until it is re-armed",
            "fix the supply voltage (>= 3.0 V under load), then re-arm with AT%XPOFWARN=1,30 or restart the modem",
        )
    elif probe.state == "unknown" and facts.has_power_off_warning:
        yield Finding(
            Severity.INFO,
            "power.off-warning-unknown",
            "power-off warning state could not be determined",
            f"{probe.method}: {probe.detail}".rstrip(": "),
            None,
        )


#: The answer buffer of each front-end and the setting that sizes it (modem-behaviour.md#front-ends).
ANSWER_BUFFER = {
    "shell": ("the NCS shell's `at` answer buffer", "CONFIG_AT_SHELL_CMD_RESPONSE_MAX_LEN", 2700),
    "at_client": ("the AT host's buffer", "CONFIG_AT_HOST_CMD_MAX_LEN", 4096),
    "slm": ("the Serial LTE Modem's AT buffer", "the SLM / Serial Modem AT buffer size", 4096),
}


def read_rule(obs: Observations, facts: FirmwareFacts, now: datetime, horizon: timedelta) -> Iterable[Finding]:
    """Read-back of readable entries. A read whose digest matches the list returned what is stored: bad content is
    the entry's own fault (stored so). A read that differs from the listed digest was cut on the way: the buffer of
    the front-end in use is too small. Without real digests the two cannot be told apart, and the finding says so."""
    what, setting, default = ANSWER_BUFFER.get(obs.info.dialect, ANSWER_BUFFER["at_client"])
    buffer_fix = (
        f"raise {setting} (default {default} bytes) to 4096, or compare by digest (`credwarden list`) instead of "
        "read-back; keep certificates below ~4 kB (a larger chain crashed the modem)"
    )
    for read in obs.reads:
        label = f"sec_tag {read.sec_tag} {type_name(read.type)}"
        if read.error is not None:
            timed_out = "timeout" in read.error.lower()
            yield Finding(
                Severity.WARNING,
                "buffer.read-failed",
                f"{label}: read-back failed ({read.error})",
                (
                    f"no final result arrived: the answer is probably larger than {what}, which drops the end of it"
                    if timed_out
                    else f"the read of a readable entry was refused; the answer may not fit {what}"
                ),
                buffer_fix,
                read.sec_tag,
                read.type,
            )
            continue
        listed = read.listed_sha.upper() if read.listed_sha else None
        real = facts.real_digests is not False and listed is not None and not is_placeholder_digest(listed, read.type)
        matches = real and read.content_sha is not None and listed == read.content_sha.upper()
        bad_content = read.complete_pem is False or read.valid_certificate is False
        reason = "the PEM block is incomplete" if read.complete_pem is False else "it does not parse as a certificate"
        if matches and bad_content:
            yield Finding(
                Severity.ERROR,
                "content.invalid",
                f"{label}: the stored content is not a valid certificate",
                f"{reason}; its digest matches the listed one, so the read is complete and the entry is stored this "
                "way (an interrupted or overlong write, or a damaged file). TLS handshakes with this CA will fail",
                f"rewrite it: `credwarden apply MANIFEST`, or `credwarden write {read.sec_tag} root-ca FILE`",
                read.sec_tag,
                read.type,
            )
        elif real and not matches:
            yield Finding(
                Severity.ERROR,
                "buffer.read-truncated",
                f"{label}: read-back came back cut",
                f"the content read back differs from the listed digest{_buffer_note(read.length)}: {what} is too "
                "small for this credential. Libraries that compare by read-back (modem_key_mgmt_cmp) see a mismatch "
                "and may rewrite the entry at every boot",
                buffer_fix,
                read.sec_tag,
                read.type,
            )
        elif not real and bad_content:
            yield Finding(
                Severity.ERROR,
                "content.unproven-invalid",
                f"{label}: the content read back is not a valid certificate",
                f"{reason}{_buffer_note(read.length)}. This firmware lists no real digest, so it cannot tell whether "
                f"the entry is stored this way or the read was cut by {what}",
                f"rewrite it (`credwarden apply MANIFEST`); if it comes back the same, {buffer_fix}",
                read.sec_tag,
                read.type,
            )


def manifest_rule(obs: Observations, facts: FirmwareFacts, now: datetime, horizon: timedelta) -> Iterable[Finding]:
    """Manifest entries missing, truncated, different or unverifiable on the device."""
    if obs.manifest is None:
        return
    texts = {
        "missing": (Severity.ERROR, "missing on the device", "provision it: `credwarden apply MANIFEST`"),
        "truncated": (
            Severity.ERROR,
            "stored truncated (an interrupted or overlong write)",
            "rewrite it: `credwarden apply MANIFEST` (repairs truncated entries)",
        ),
        "different": (
            Severity.ERROR,
            "differs from the manifest",
            "check which side is right, then `credwarden apply MANIFEST`",
        ),
        "unverifiable": (
            Severity.WARNING,
            "present but cannot be verified (placeholder digest or modem-generated key)",
            "upgrade to mfw 1.3.2+ for digest verification, or accept presence as the check",
        ),
    }
    for check in obs.manifest:
        if check.status == "ok":
            continue
        severity, what, fix = texts.get(
            check.status, (Severity.WARNING, f"status {check.status!r}", "run `credwarden plan MANIFEST`")
        )
        yield Finding(
            severity,
            f"manifest.{check.status}",
            f"sec_tag {check.sec_tag} {type_name(check.type)}: {what}",
            check.detail or what,
            fix,
            check.sec_tag,
            check.type,
        )


def expiry_rule(obs: Observations, facts: FirmwareFacts, now: datetime, horizon: timedelta) -> Iterable[Finding]:
    """Certificates expired, expiring within the horizon, or not yet valid."""
    for exp in obs.expiries:
        label = f"sec_tag {exp.sec_tag} {type_name(exp.type)}"
        after = exp.not_after.isoformat()
        if exp.not_after <= now:
            yield Finding(
                Severity.ERROR,
                "cert.expired",
                f"{label}: certificate expired on {after}",
                f"validity ends {after} ({exp.source}); TLS handshakes using it fail (-EKEYEXPIRED / -111)",
                "issue a new certificate and `credwarden apply MANIFEST`",
                exp.sec_tag,
                exp.type,
            )
        elif exp.not_after - now <= horizon:
            days = (exp.not_after - now).days
            yield Finding(
                Severity.WARNING,
                "cert.expiring",
                f"{label}: certificate expires in {days} days ({after})",
                f"validity ends {after} ({exp.source})",
                "plan the rotation: issue a new certificate and `credwarden apply MANIFEST`",
                exp.sec_tag,
                exp.type,
            )
        elif exp.not_before > now:
            yield Finding(
                Severity.WARNING,
                "cert.not-yet-valid",
                f"{label}: certificate not valid before {exp.not_before.isoformat()}",
                f"({exp.source}); the handshake fails until then, or the host clock is wrong",
                "check the issuing time of the certificate",
                exp.sec_tag,
                exp.type,
            )


def tag_rule(obs: Observations, facts: FirmwareFacts, now: datetime, horizon: timedelta) -> Iterable[Finding]:
    """nRF Cloud's tag, reserved tags, TLS-decrypt tags, duplicates, incomplete identities, empty store."""
    entries = obs.entries
    cloud = sorted(e.type for e in entries if e.sec_tag == NRF_CLOUD_SEC_TAG)
    if cloud:
        yield Finding(
            Severity.INFO,
            "tags.nrf-cloud",
            f"nRF Cloud's default sec_tag {NRF_CLOUD_SEC_TAG} is in use ({', '.join(type_name(t) for t in cloud)})",
            "the nRF Cloud libraries (CONFIG_NRF_CLOUD_SEC_TAG) and nrfcloud-utils use this tag; writing other "
            "credentials there breaks nRF Cloud connectivity",
            None,
            NRF_CLOUD_SEC_TAG,
        )
    factory = set(FACTORY_ENTRIES)
    for entry in entries:
        if is_user_tag(entry.sec_tag):
            continue
        if is_tls_decrypt_tag(entry.sec_tag):
            yield Finding(
                Severity.WARNING,
                "tags.tls-decrypt",
                f"sec_tag {entry.sec_tag} {entry.type_name}: TLS-decrypt tag in use",
                "TLS sessions using sec_tags 2147483648-2147483667 can be decrypted with Nordic tools; they are "
                "for test and development only",
                "move production credentials to a user sec_tag (0-2147483647)",
                entry.sec_tag,
                entry.type,
            )
        elif (entry.sec_tag, entry.type) in factory:
            continue
        else:
            yield Finding(
                Severity.WARNING,
                "tags.reserved-unexpected",
                f"sec_tag {entry.sec_tag} {entry.type_name}: unexpected entry in the modem-reserved range",
                "values above 2147483647 are reserved for the modem; this (tag, type) is not one of the "
                "factory entries seen so far",
                "leave it alone; report the firmware version if it appeared after a tool wrote there",
                entry.sec_tag,
                entry.type,
            )
    owned = [e for e in entries if (e.sec_tag, e.type) in factory]
    if owned:
        listed = ", ".join(f"{e.sec_tag}/{e.type_name}" for e in owned)
        yield Finding(
            Severity.INFO,
            "tags.reserved",
            f"{len(owned)} modem-owned entries ({listed})",
            "reserved for the modem; never delete or overwrite them (credwarden's delete-all skips them)",
        )
    for (tag, code), count in Counter((e.sec_tag, e.type) for e in entries).items():
        if count > 1:
            yield Finding(
                Severity.WARNING,
                "entries.duplicate",
                f"sec_tag {tag} {type_name(code)} listed {count} times",
                "(sec_tag, type) must be unique in the store; the list output is inconsistent",
                "restart the modem and list again; re-provision the entry if it persists",
                tag,
                code,
            )
    by_tag: dict[int, set[int]] = {}
    for entry in entries:
        if is_user_tag(entry.sec_tag):
            by_tag.setdefault(entry.sec_tag, set()).add(entry.type)
    for tag, types in sorted(by_tag.items()):
        has_cert, has_key = CredType.CLIENT_CERT in types, CredType.CLIENT_KEY in types
        if has_cert != has_key:
            missing = "client-key" if has_cert else "client-cert"
            yield Finding(
                Severity.WARNING,
                "tags.incomplete-identity",
                f"sec_tag {tag}: {missing} missing",
                f"the tag holds a {'client-cert' if has_cert else 'client-key'} without its "
                f"{missing}; mutual TLS with this tag fails (-111 / -45) unless the other half is on purpose "
                "elsewhere",
                "provision the missing half: `credwarden apply MANIFEST`",
                tag,
                CredType.CLIENT_KEY if has_cert else CredType.CLIENT_CERT,
            )
        if CredType.PSK in types and CredType.PSK_IDENTITY not in types:
            yield Finding(
                Severity.WARNING,
                "tags.psk-without-identity",
                f"sec_tag {tag}: PSK without PSK identity",
                "a PSK handshake needs both the key (type 3) and the identity (type 4)",
                "provision the psk-identity: `credwarden apply MANIFEST`",
                tag,
                CredType.PSK_IDENTITY,
            )
    if not by_tag:
        yield Finding(
            Severity.WARNING,
            "entries.empty",
            "no user credentials stored",
            "the store holds no entry in the user range 0-2147483647; TLS connections will fail",
            "provision the device: `credwarden apply MANIFEST`",
        )


def probe_rule(obs: Observations, facts: FirmwareFacts, now: datetime, horizon: timedelta) -> Iterable[Finding]:
    """Probes that could not run are reported, never hidden."""
    for text in obs.probe_errors:
        yield Finding(Severity.INFO, "doctor.probe-skipped", "a check could not be run", text, None)


def _buffer_note(length: int | None) -> str:
    if length is None:
        return ""
    near = [size for size in KNOWN_BUFFER_SIZES if size - 200 <= length <= size]
    return f" ({length} bytes received, close to a {near[0]}-byte buffer)" if near else f" ({length} bytes received)"


RULES: tuple[Rule, ...] = (
    firmware_rule,
    dialect_rule,
    placeholder_rule,
    cfun_rule,
    power_off_warning_rule,
    read_rule,
    manifest_rule,
    expiry_rule,
    tag_rule,
    probe_rule,
)

__all__ = ["DEFAULT_EXPIRY_WARNING", "RULES", "diagnose"]
