"""ManifestSpec -> validated desired credentials for one device (placeholders expanded, files read, all checks run).

Every problem of the manifest is collected and raised together as one `ManifestError`; nothing reaches a
device unless the whole manifest is valid.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from credwarden.creds.password import password_from_env
from credwarden.creds.validate import PreparedCredential, check_firmware, check_tag_groups, prepare_credential
from credwarden.errors import ValidationError
from credwarden.provision.manifest import (
    DEFAULT_NRFCLOUD_SEC_TAG,
    EffectiveOptions,
    Manifest,
    ManifestError,
    effective_options,
    parse_nrfcloud_json,
)
from credwarden.types import DIALECTS, CredType, Dialect

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
KNOWN_PLACEHOLDERS = ("imei", "uuid")


@dataclass(frozen=True)
class DesiredCredential:
    """One credential the device must hold: validated content plus the options that govern it."""

    credential: PreparedCredential
    options: EffectiveOptions

    @property
    def sec_tag(self) -> int:
        return self.credential.sec_tag

    @property
    def type(self) -> CredType:
        return self.credential.type

    @property
    def key(self) -> tuple[int, int]:
        return (self.credential.sec_tag, int(self.credential.type))


@dataclass(frozen=True)
class DeviceIdentity:
    """What placeholders and firmware-dependent checks need to know about the target device."""

    imei: str | None = None
    uuid: str | None = None
    dialect: Dialect | None = None
    firmware_version: tuple[int, int, int] | None = None
    check_firmware: bool = False  #: run device-dependent checks (TLS-decrypt tags need mfw >= 2.0)


def uses_placeholders(loaded: Manifest) -> bool:
    """True when some file name contains `{imei}` or `{uuid}` (the device must be known to resolve it)."""
    files = [t.file for t in loaded.spec.credential if t.file] + [t.file for t in loaded.spec.nrfcloud]
    return any(_PLACEHOLDER.search(f) for f in files)


def _expand(pattern: str, device: DeviceIdentity, source: str) -> tuple[str | None, list[ValidationError]]:
    problems: list[ValidationError] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = getattr(device, name, None) if name in KNOWN_PLACEHOLDERS else None
        if name not in KNOWN_PLACEHOLDERS:
            problems.append(
                ValidationError(
                    f"unknown placeholder {{{name}}} in '{pattern}' "
                    f"(known: {', '.join('{' + p + '}' for p in KNOWN_PLACEHOLDERS)})",
                    source=source,
                )
            )
        elif not value:
            problems.append(
                ValidationError(
                    f"'{pattern}' needs the device {name.upper()}, which is not known "
                    "(connect to the device or pass it explicitly)",
                    source=source,
                )
            )
        return str(value or "")

    expanded = _PLACEHOLDER.sub(substitute, pattern)
    return (None if problems else expanded), problems


def _read(
    loaded: Manifest, pattern: str, device: DeviceIdentity, source: str
) -> tuple[bytes | None, str, list[ValidationError]]:
    expanded, problems = _expand(pattern, device, source)
    if expanded is None:
        return None, source, problems
    path = Path(expanded)
    if not path.is_absolute():
        path = loaded.base_dir / path
    where = loaded.file_source(source, path)
    try:
        return path.read_bytes(), where, []
    except FileNotFoundError:
        return None, where, [ValidationError("file not found", source=where)]
    except IsADirectoryError:
        return None, where, [ValidationError("is a directory, not a file", source=where)]
    except OSError as exc:
        return None, where, [ValidationError(f"cannot be read ({exc.strerror})", source=where)]


def _password(env_name: str | None, env: Mapping[str, str], source: str) -> tuple[str | None, list[ValidationError]]:
    if env_name is None:
        return None, []
    try:
        return password_from_env(env_name, purpose="password_env of this key", env=env, source=source), []
    except ValidationError as exc:
        return None, [exc]


def resolve_manifest(
    loaded: Manifest,
    device: DeviceIdentity | None = None,
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> list[DesiredCredential]:
    """Read and validate everything the manifest names; raise ManifestError with all problems at once."""
    device = device or DeviceIdentity()
    env = os.environ if env is None else env
    manifest = loaded.spec
    dialects: Sequence[Dialect] = (device.dialect,) if device.dialect else DIALECTS
    problems: list[ValidationError] = []
    desired: list[DesiredCredential] = []

    def add(
        sec_tag: int, cred_type: CredType, raw: bytes, source: str, options: EffectiveOptions, password: str | None
    ) -> None:
        prepared, found = prepare_credential(
            sec_tag,
            cred_type,
            raw,
            source=source,
            policy=options.policy(),
            password=password,
            now=now,
            dialects=dialects,
        )
        if device.check_firmware:
            found.extend(
                check_firmware(
                    sec_tag, device.firmware_version, source, cred_type=cred_type, native_tls=options.native_tls
                )
            )
        problems.extend(found)
        if prepared is not None and not found:
            desired.append(DesiredCredential(prepared, options))

    for index, table in enumerate(manifest.credential):
        source = loaded.table_source("credential", index)
        options = effective_options(manifest, table)
        password, found = _password(table.password_env, env, source)
        problems.extend(found)
        if table.value is not None:
            add(table.sec_tag, table.type, table.value.encode("utf-8"), f"{source}.value", options, password)
            continue
        assert table.file is not None  # guaranteed by CredentialTable
        raw, where, found = _read(loaded, table.file, device, source)
        problems.extend(found)
        if raw is not None:
            add(table.sec_tag, table.type, raw, where, options, password)

    for index, nrf in enumerate(manifest.nrfcloud):
        source = loaded.table_source("nrfcloud", index)
        options = effective_options(manifest, nrf)
        raw, where, found = _read(loaded, nrf.file, device, source)
        problems.extend(found)
        if raw is None:
            continue
        try:
            creds = parse_nrfcloud_json(raw.decode("utf-8", errors="replace"), source=where)
        except ValidationError as exc:
            problems.append(exc)
            continue
        sec_tag = nrf.sec_tag if nrf.sec_tag is not None else (creds.sec_tag or DEFAULT_NRFCLOUD_SEC_TAG)
        password, found = _password(nrf.password_env, env, source)
        problems.extend(found)
        for cred_type, text in creds.items.items():
            add(
                sec_tag,
                cred_type,
                text.encode("utf-8"),
                f"{where} {cred_type.cli_name}",
                options,
                password if cred_type == CredType.CLIENT_KEY else None,
            )

    for index, keygen in enumerate(manifest.keygen):  # run by the factory job; its files must exist now
        source = loaded.table_source("keygen", index)
        for name in ("ca_cert", "ca_key"):
            path = Path(getattr(keygen, name))
            path = path if path.is_absolute() else loaded.base_dir / path
            if not path.is_file():
                problems.append(ValidationError(f"{name} file not found ({path})", source=f"{source}.{name}"))
        if keygen.ca_key_password_env is not None and keygen.ca_key_password_env not in env:
            problems.append(
                ValidationError(
                    f"ca_key_password_env names ${keygen.ca_key_password_env}, which is not set",
                    source=f"{source}.ca_key_password_env",
                )
            )

    problems.extend(check_tag_groups(d.credential for d in desired))
    if problems:
        raise ManifestError(problems, source=loaded.name)
    return desired
