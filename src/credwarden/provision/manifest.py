"""The provisioning manifest: a TOML file listing the credentials a device must hold (validated with pydantic).

```toml
allow_expired = false              # options at the top level apply to every credential ...
[[credential]]
sec_tag = 42
type = "root-ca"                   # name or code (credwarden.types.parse_type)
file = "certs/ca.pem"              # relative to the manifest; {imei} and {uuid} expand per device
[[credential]]
sec_tag = 42
type = "client-key"
file = "devices/{imei}.key"
password_env = "KEY_PASSWORD"      # encrypted keys: the password comes from the environment, never inline
exclusive = true                   # ... and each credential may override them
[[nrfcloud]]                       # import an nRF Cloud credentials JSON (caCert, clientCert, privateKey, secTag)
file = "nrfcloud/{imei}.json"
[[keygen]]                         # on-device key: %KEYGEN -> CSR -> cert signed by a local CA (provision.keygen)
sec_tag = 44
ca_cert = "ca/ca.pem"              # relative to the manifest
ca_key = "ca/ca.key"
ca_key_password_env = "CA_KEY_PASSWORD"
```

`[[keygen]]` tables are validated here (so `manifest check` and `manifest schema` cover them): `KeygenTable` is the
one model of such a table; `apply` runs them (provision.keygen), for one board or a factory batch alike.
A keygen sec_tag must not also be
given a client-key or client-cert by a `[[credential]]` table (nor a root-ca when `write_ca = true`).

Errors name the file, the table and its index, and the field: `m.toml: credential[2].type: unknown ...`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from credwarden.creds.validate import CredentialPolicy
from credwarden.errors import ValidationError
from credwarden.tomlfile import parse_toml, read_file
from credwarden.types import MAX_USER_SEC_TAG, NRF_CLOUD_SEC_TAG, CredType, parse_type

UnverifiablePolicy = Literal["fail", "warn", "rewrite"]
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

#: Types that may be given inline with `value` (short, non-file material).
INLINE_TYPES = frozenset({CredType.PSK, CredType.PSK_IDENTITY})
#: nRF Cloud credentials JSON keys -> type.
NRFCLOUD_KEYS: dict[str, CredType] = {
    "caCert": CredType.ROOT_CA,
    "clientCert": CredType.CLIENT_CERT,
    "privateKey": CredType.CLIENT_KEY,
}


def _to_type(value: Any) -> CredType:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("type must be a name (root-ca, client-cert, client-key, psk, psk-identity) or a code")
    return parse_type(value)


TypeField = Annotated[
    CredType,
    BeforeValidator(_to_type),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "examples": ["root-ca", "client-cert", "client-key", "psk", "psk-identity"]},
                {"type": "integer", "minimum": 0, "maximum": 13},
            ],
            "description": "credential type: name or %CMNG code",
        }
    ),
]


class Options(BaseModel):
    """Options allowed at the top level and on every table (a table's value wins)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exclusive: bool | None = Field(None, description="delete other user types stored on this sec_tag")
    allow_expired: bool | None = Field(None, description="write certificates that have expired")
    allow_not_yet_valid: bool | None = Field(None, description="write certificates not valid yet")
    allow_nrf_cloud_tag: bool | None = Field(None, description="allow writing sec_tag 16842753 (nRF Cloud)")
    allow_tls_decrypt_tag: bool | None = Field(None, description="allow TLS-decrypt sec_tags (mfw >= 2.0)")
    native_tls: bool | None = Field(None, description="SLM native TLS: write through AT#XCMNG")
    unverifiable: UnverifiablePolicy | None = Field(
        None, description="entries whose digest cannot prove the content (placeholder firmware): fail|warn|rewrite"
    )


class CredentialTable(Options):
    """One `[[credential]]` table."""

    sec_tag: StrictInt = Field(description="0..2147483647 (TLS-decrypt tags with allow_tls_decrypt_tag)")
    type: TypeField
    file: str | None = Field(None, description="PEM/DER file relative to the manifest; {imei} {uuid} expand")
    value: str | None = Field(None, description="inline value, for psk and psk-identity only")
    password_env: str | None = Field(None, description="environment variable holding the key password")

    @model_validator(mode="after")
    def _one_source(self) -> CredentialTable:
        if (self.file is None) == (self.value is None):
            raise ValueError("give exactly one of 'file' or 'value'")
        if self.value is not None and self.type not in INLINE_TYPES:
            raise ValueError(f"'value' is only allowed for psk and psk-identity, not {self.type.cli_name} (use 'file')")
        if self.password_env is not None and self.type != CredType.CLIENT_KEY:
            raise ValueError("'password_env' only applies to client-key")
        return self


class NrfCloudTable(Options):
    """One `[[nrfcloud]]` table: an nRF Cloud credentials JSON file."""

    file: str = Field(description="JSON with caCert, clientCert, privateKey (and secTag); {imei} {uuid} expand")
    sec_tag: StrictInt | None = Field(None, description="override the file's secTag (default 16842753)")
    password_env: str | None = Field(None, description="environment variable holding the key password")


class KeygenTable(BaseModel):
    """One `[[keygen]]` table: the modem generates the key, a local CA signs its CSR (`provision.keygen` runs it).

    `ca_cert`/`ca_key` are relative to the manifest until `resolved(base_dir)` anchors them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sec_tag: StrictInt = Field(ge=0, le=MAX_USER_SEC_TAG, description="user sec_tag of the generated key")
    ca_cert: Path = Field(description="CA certificate (PEM) relative to the manifest")
    ca_key: Path = Field(description="CA private key (PEM) relative to the manifest")
    ca_key_password_env: str | None = Field(
        None, min_length=1, description="environment variable holding the CA key password"
    )
    validity_days: StrictInt = Field(365, ge=1, le=36500, description="validity of the issued certificate")
    subject: str | None = Field(None, description="CSR attributes, e.g. CN={imei}; {imei} {uuid} expand")
    write_ca: bool = Field(False, description="also store the CA certificate as root-ca in the same sec_tag")
    replace_key: bool = Field(True, description="regenerate a key that has no matching issued certificate")

    @field_validator("ca_cert", "ca_key", mode="before")
    @classmethod
    def _non_empty_path(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must name a file")
        return value

    @model_validator(mode="after")
    def _checks(self) -> KeygenTable:
        if self.subject is not None and ('"' in self.subject or not self.subject.strip()):
            raise ValueError("'subject' must be non-empty and contain no double quote")
        if self.ca_key_password_env is not None and not self.ca_key_password_env.isidentifier():
            raise ValueError(
                "'ca_key_password_env' must be an environment variable name (the password itself "
                "never goes into the manifest)"
            )
        return self

    def resolved(self, base_dir: Path) -> KeygenTable:
        """The same table with relative CA paths anchored at `base_dir` (the manifest's directory)."""
        return self.model_copy(
            update={
                "ca_cert": self.ca_cert if self.ca_cert.is_absolute() else base_dir / self.ca_cert,
                "ca_key": self.ca_key if self.ca_key.is_absolute() else base_dir / self.ca_key,
            }
        )

    def attributes_for(self, imei: str | None, uuid: str | None) -> str | None:
        """The `%KEYGEN` attribute string for one device (placeholders expanded)."""
        if self.subject is None:
            return None
        values = {"imei": imei, "uuid": uuid}
        where = f"keygen sec_tag {self.sec_tag}"

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise ValidationError(
                    f"unknown placeholder {{{name}}} in subject {self.subject!r} (known: {{imei}}, {{uuid}})",
                    source=where,
                )
            value = values[name]
            if not value:
                raise ValidationError(
                    f"subject {self.subject!r} needs the device {name.upper()}, which is not known", source=where
                )
            return value

        text = _PLACEHOLDER.sub(substitute, self.subject)
        if '"' in text or not text.strip():
            raise ValidationError(f"subject {text!r} must be non-empty and contain no double quote", source=where)
        return text


class ManifestSpec(Options):
    """The whole manifest."""

    version: Literal[1] = 1
    credential: list[CredentialTable] = Field(default_factory=list)
    nrfcloud: list[NrfCloudTable] = Field(default_factory=list)
    keygen: list[KeygenTable] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> ManifestSpec:
        if not self.credential and not self.nrfcloud and not self.keygen:
            raise ValueError("the manifest lists no [[credential]], [[nrfcloud]] or [[keygen]] table")
        problems: list[str] = []
        seen: set[int] = set()
        for index, table in enumerate(self.keygen):
            if table.sec_tag in seen:
                problems.append(f"keygen[{index}].sec_tag: another [[keygen]] table names sec_tag {table.sec_tag}")
            seen.add(table.sec_tag)
            owned = {CredType.CLIENT_KEY, CredType.CLIENT_CERT} | ({CredType.ROOT_CA} if table.write_ca else set())
            for other, cred in enumerate(self.credential):
                if cred.sec_tag == table.sec_tag and cred.type in owned:
                    problems.append(
                        f"keygen[{index}].sec_tag: sec_tag {table.sec_tag} also gets a "
                        f"{cred.type.cli_name} from credential[{other}] (the keygen flow writes it)"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self


@dataclass(frozen=True)
class EffectiveOptions:
    """Options of one credential after inheritance (table value, else top-level value, else default)."""

    exclusive: bool = False
    allow_expired: bool = False
    allow_not_yet_valid: bool = False
    allow_nrf_cloud_tag: bool = False
    allow_tls_decrypt_tag: bool = False
    native_tls: bool = False
    unverifiable: UnverifiablePolicy = "fail"

    def policy(self) -> CredentialPolicy:
        return CredentialPolicy(
            allow_expired=self.allow_expired,
            allow_not_yet_valid=self.allow_not_yet_valid,
            allow_nrf_cloud_tag=self.allow_nrf_cloud_tag,
            allow_tls_decrypt_tag=self.allow_tls_decrypt_tag,
            native_tls=self.native_tls,
        )


def effective_options(top: Options, table: Options) -> EffectiveOptions:
    """Merge a table's options over the top-level ones."""
    defaults = EffectiveOptions()
    values: dict[str, Any] = {}
    for name in Options.model_fields:
        own = getattr(table, name)
        inherited = getattr(top, name)
        values[name] = own if own is not None else (inherited if inherited is not None else getattr(defaults, name))
    return EffectiveOptions(**values)


class ManifestError(ValidationError):
    """A manifest (or what it names) failed validation; `problems` lists every problem found."""

    def __init__(self, problems: list[ValidationError], *, source: str | None = None) -> None:
        self.problems = problems
        count = len(problems)
        header = f"{count} problem{'s' if count != 1 else ''} found, nothing was written"
        super().__init__(header + ":\n" + "\n".join(f"  - {p}" for p in problems), source=source)


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest and where it came from (relative file names resolve against `base_dir`)."""

    spec: ManifestSpec
    path: Path
    label: str | None = None  #: how messages name it when it is not a file (e.g. `credwarden write`)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        return self.label or str(self.path)

    def table_source(self, kind: str, index: int) -> str:
        """How messages name one table: `m.toml: credential[2]`; a labelled manifest (one table, built by a
        command) is named by its label alone, which already says the command, the slot and the file."""
        return self.label if self.label else f"{self.name}: {kind}[{index}]"

    def file_source(self, source: str, path: Path) -> str:
        """How messages name a table's file: `m.toml: credential[2] (certs/ca.pem)`; a label names it already."""
        return source if self.label else f"{source} ({path})"


def single_credential_manifest(
    sec_tag: int,
    cred_type: CredType,
    file: Path,
    *,
    password_env: str | None = None,
    label: str,
    **options: bool,
) -> Manifest:
    """A manifest of one `[[credential]]` table (what `credwarden write` applies): same rules as any manifest."""
    try:
        table = CredentialTable(
            sec_tag=sec_tag, type=cred_type, file=str(file.resolve()), password_env=password_env, **options
        )
        spec = ManifestSpec(credential=[table])
    except PydanticValidationError as exc:
        problems = [
            ValidationError(str(err["msg"]).removeprefix("Value error, "), source=label) for err in exc.errors()
        ]
        raise ManifestError(problems, source=label) from None
    return Manifest(spec, Path.cwd() / "credwarden-write.toml", label=label)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-") or part in ("", "__root__"):
            continue
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def parse_manifest(text: str | bytes, *, name: str) -> ManifestSpec:
    """Parse and validate manifest TOML text; raise ManifestError listing every problem."""
    try:
        data = parse_toml(text, name)
    except ValidationError as exc:
        raise ManifestError([exc], source=name) from None
    try:
        return ManifestSpec.model_validate(data)
    except PydanticValidationError as exc:
        problems = []
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(ValidationError(message, source=f"{name}: {_format_loc(tuple(err['loc']))}"))
        raise ManifestError(problems, source=name) from None


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest file (no credential file is read yet: see provision.resolve)."""
    path = Path(path)
    return Manifest(parse_manifest(read_file(path, "manifest"), name=str(path)), path)


def manifest_json_schema() -> dict[str, Any]:
    """JSON Schema of the manifest (what `credwarden manifest schema` prints)."""
    schema = ManifestSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "credwarden provisioning manifest"
    return schema


@dataclass(frozen=True)
class NrfCloudCredentials:
    """What an nRF Cloud credentials JSON file holds (PEM strings by type, and its secTag if any)."""

    items: dict[CredType, str]
    sec_tag: int | None


def parse_nrfcloud_json(text: str, *, source: str) -> NrfCloudCredentials:
    """Parse an nRF Cloud credentials JSON document (keys caCert, clientCert, privateKey, secTag)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not valid JSON ({exc.msg} at line {exc.lineno})", source=source) from None
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object with caCert, clientCert, privateKey", source=source)
    items: dict[CredType, str] = {}
    for key, cred_type in NRFCLOUD_KEYS.items():
        value = data.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ValidationError(f"'{key}' must be a PEM string", source=source)
        items[cred_type] = value
    if not items:
        raise ValidationError("holds none of caCert, clientCert, privateKey", source=source)
    raw_tag = data.get("secTag")
    sec_tag: int | None = None
    if raw_tag is not None:
        if isinstance(raw_tag, bool) or not (
            isinstance(raw_tag, int) or (isinstance(raw_tag, str) and raw_tag.isdigit())
        ):
            raise ValidationError(f"'secTag' must be an integer, not {raw_tag!r}", source=source)
        sec_tag = int(raw_tag)
    return NrfCloudCredentials(items, sec_tag)


DEFAULT_NRFCLOUD_SEC_TAG = NRF_CLOUD_SEC_TAG
