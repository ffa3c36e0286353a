"""Device commands: info, list, read, write, delete, delete-all, keygen, attest, expiry, at.

Each command has a rich rendering for people and `--json` for machines (same result object); the human output
names the device it acted on. Connection options are the global ones (`cli.context`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from credwarden.cli.context import CliContext, cli_context, open_device
from credwarden.cli.failures import cli_errors, interrupt_after, validation_json
from credwarden.cli.output import device_name, emit, escape, note, plural, progress, short_digest, warn
from credwarden.errors import ExitCode, UsageError, ValidationError
from credwarden.models import (
    AttestationToken,
    CertExpiry,
    DeleteOutcome,
    DeviceInfo,
    KeygenResult,
    ReadResult,
    StoredEntry,
)
from credwarden.types import SECRET_TYPES, CredType, parse_type, slot_json, type_name, user_deletable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from credwarden.modem.device import Device
    from credwarden.provision.apply import ApplyReport

commands = typer.Typer(rich_markup_mode=None)
PANEL = "Device"

TagArg = Annotated[int, typer.Argument(min=0, max=4_294_967_295, help="sec_tag (0..2147483647 for user entries)")]
TypeArg = Annotated[str, typer.Argument(help="Credential type: code (0-13) or name (root-ca, client-cert, ...)")]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.", show_default=False)
]


def _type(value: str) -> CredType:
    try:
        return parse_type(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def device_imei(dev: Device) -> str | None:
    """The IMEI (one `AT+CGSN`), to name the device in the output; None when the modem does not tell."""
    from credwarden.at.info import parse_imei
    from credwarden.errors import ModemError

    try:
        return parse_imei(list(dev.at("AT+CGSN").lines))
    except ModemError:
        return None


@dataclass(frozen=True)
class Acted:
    """A change made on one device, for the human line and the JSON object (which always names the device)."""

    text: str
    data: dict[str, Any]
    imei: str | None
    port: str

    def to_json(self) -> dict[str, Any]:
        return {"device": {"port": self.port, "imei": self.imei}, **self.data}


def render_acted(result: Acted, console: Console) -> None:
    console.print(f"{escape(result.text)} ({escape(device_name(result.imei, result.port))})", highlight=False)


# -- renderers ---------------------------------------------------------------------------------------------
def render_info(info: DeviceInfo, console: Console) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    version = ".".join(map(str, info.firmware_version)) if info.firmware_version else "unknown"
    rows = [
        ("port", info.port or "-"),
        ("dialect", info.dialect),
        ("IMEI", info.imei or "-"),
        ("model", info.model or "-"),
        ("firmware", f"{info.firmware or '-'} (version {version})"),
        ("device UUID", info.uuid or "not offered by this firmware"),
        ("modem build UUID", info.modem_build_uuid or "-"),
        ("CFUN", "-" if info.cfun is None else str(info.cfun)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@dataclass(frozen=True)
class Listing:
    """`list` output: the entries (JSON: the plain array, a stable schema) and, for people, the device."""

    entries: list[StoredEntry]
    imei: str | None
    port: str

    def to_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.entries]


def entries_table(entries: list[StoredEntry], title: str) -> Table:
    from rich.table import Table

    table = Table(title=escape(title))
    table.add_column("sec_tag", justify="right", no_wrap=True, min_width=10)
    table.add_column("type", no_wrap=True)
    table.add_column("SHA-256 (as listed)", no_wrap=True)
    for entry in entries:
        sha = short_digest(entry.sha256)
        if entry.placeholder_digest:
            sha += " (placeholder: old firmware prints no real digest)"
        table.add_row(str(entry.sec_tag), f"{entry.type} {entry.type_name}", sha)
    return table


def render_listing(result: Listing, console: Console) -> None:
    where = device_name(result.imei, result.port)
    if not result.entries:
        console.print(f"no credentials stored (matching the filter) — {escape(where)}", highlight=False)
        return
    console.print(entries_table(result.entries, f"{plural(len(result.entries), 'stored credential')} — {where}"))


def render_entries(entries: list[StoredEntry], console: Console) -> None:
    """A plain entries table (no device line)."""
    if not entries:
        console.print("no credentials stored (matching the filter)")
        return
    console.print(entries_table(entries, f"{plural(len(entries), 'stored credential')}"))


def render_read(result: ReadResult, console: Console) -> None:
    entry = result.entry
    console.print(
        f"[bold]{entry.sec_tag}[/] {entry.type_name}  {len(result.content)} bytes  sha256 {entry.sha256 or '-'}",
        highlight=False,
    )
    console.out(result.content.decode("ascii", errors="replace"), highlight=False, end="")


def render_outcomes(result: Acted, console: Console) -> None:
    from rich.table import Table

    outcomes: list[dict[str, Any]] = result.data["entries"]
    where = device_name(result.imei, result.port)
    if not outcomes:
        console.print(f"no user credentials stored; nothing deleted ({escape(where)})", highlight=False)
        return
    table = Table(title=escape(f"delete-all — {where}"))
    table.add_column("sec_tag", justify="right", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("result")
    for item in outcomes:
        table.add_row(
            str(item["sec_tag"]), str(item["type_name"]), "deleted" if item["deleted"] else f"kept: {item['error']}"
        )
    console.print(table)


def render_keygen(result: KeygenResult, console: Console) -> None:
    console.print(
        f"key generated in sec_tag {result.sec_tag}; CSR subject {result.subject}", highlight=False, markup=False
    )
    if result.repaired_null_params:
        console.print("note: the modem's CSR carried a NULL signature parameter; repaired", highlight=False)
    if result.device_uuid:
        console.print(f"device UUID {result.device_uuid}", highlight=False)
    console.out(result.csr_pem, highlight=False)


def render_attest(token: AttestationToken, console: Console) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("device UUID", token.device_uuid)
    table.add_row("device type", f"{token.device_type} {token.device_type_name}")
    table.add_row("firmware UUID", token.firmware_uuid)
    table.add_row("nonce", token.nonce.hex())
    table.add_row("signed", "yes (COSE_Sign1)" if token.cose else "no COSE part")
    console.print(table)


def render_expiry(result: CertExpiry, console: Console) -> None:
    console.print(
        f"{result.sec_tag} {type_name(result.type)}: serial {result.serial}, valid "
        f"{result.not_before.isoformat()} .. {result.not_after.isoformat()}",
        highlight=False,
    )


class _Message:
    """A simple result with a human sentence and a JSON object."""

    def __init__(self, text: str, data: dict[str, Any]) -> None:
        self.text = text
        self.data = data

    def to_json(self) -> dict[str, Any]:
        return self.data


def _render_message(result: _Message, console: Console) -> None:
    console.print(result.text, highlight=False, markup=False)


# -- commands ----------------------------------------------------------------------------------------------
@commands.command(rich_help_panel=PANEL)
def info(ctx: typer.Context) -> None:
    """Identity and state: IMEI, model, firmware, UUIDs, CFUN, dialect."""
    opts = cli_context(ctx)
    with cli_errors():
        with open_device(opts) as dev, progress("reading identity"):
            result = dev.info()
        emit(result, opts.json, render_info)


@commands.command("list", rich_help_panel=PANEL)
def list_cmd(
    ctx: typer.Context,
    tag: Annotated[int | None, typer.Option("--tag", min=0, help="Only this sec_tag.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only this type (code or name).")] = None,
    no_record: Annotated[
        bool,
        typer.Option(
            "--no-record",
            help="Do not record a snapshot in the inventory (a full list is recorded by default; see `inventory`).",
        ),
    ] = False,
    with_expiry: Annotated[
        bool,
        typer.Option(
            "--expiry",
            help="Also ask %CERTEXPIRY for each certificate (firmware >= 1.3) and record its not_after.",
        ),
    ] = False,
) -> None:
    """Stored credentials with their SHA-256 (JSON: array of StoredEntry objects)."""
    opts = cli_context(ctx)
    with cli_errors():
        code = _type(type_) if type_ is not None else None
        record = not no_record and tag is None and code is None
        expiries: dict[tuple[int, int], Any] = {}
        notes: list[str] = []
        opener = None
        if record:  # the inventory opens while the device answers
            from credwarden.inventory.live import InventoryOpener

            opener = InventoryOpener(opts.db)
        with open_device(opts) as dev:
            entries = dev.list(sec_tag=tag, type=code)
            identity = dev.identity() if record else None
            imei = identity.imei if identity is not None else device_imei(dev)
            if with_expiry and identity is not None:
                from credwarden.inventory.live import list_expiries

                expiries, notes = list_expiries(dev, entries, identity)
        emit(Listing(entries, imei, opts.port), opts.json, render_listing)
        for text in notes:
            warn(text)
        if identity is not None:  # after the session closed: the inventory is not on the device's time
            from credwarden.inventory.live import record_list

            with interrupt_after():  # one short transaction: Ctrl-C waits for it, a second one gives it up
                recorded = record_list(identity, entries, expiries=expiries, opener=opener)
            for text in recorded.warnings:
                warn(text)


@commands.command(rich_help_panel=PANEL)
def read(ctx: typer.Context, tag: TagArg, cred_type: TypeArg, out: OutOption = None) -> None:
    """Read back a root CA certificate (0) or PSK identity (4), byte-exact."""
    opts = cli_context(ctx)
    with cli_errors():
        code = _type(cred_type)
        with open_device(opts) as dev:
            result = dev.read(tag, code)
        if out is not None:
            write_output_file(out, result.content)
            if not opts.json:
                note(f"wrote {len(result.content)} bytes of {tag}/{code.cli_name} to {out}")
                return
        emit(result, opts.json, render_read)


WriteFileArg = Annotated[Path, typer.Argument(help="PEM or DER file (or '-' for stdin); psk: hex; psk-identity: text.")]


@commands.command(rich_help_panel=PANEL)
def write(
    ctx: typer.Context,
    tag: TagArg,
    cred_type: TypeArg,
    file: WriteFileArg,
    password_env: Annotated[
        str | None,
        typer.Option("--password-env", help="Name of an environment variable holding the key password."),
    ] = None,
    allow_expired: Annotated[bool, typer.Option("--allow-expired", help="Write an expired certificate.")] = False,
    allow_not_yet_valid: Annotated[
        bool, typer.Option("--allow-not-yet-valid", help="Write a certificate that is not valid yet.")
    ] = False,
    allow_nrf_cloud_tag: Annotated[
        bool, typer.Option("--allow-nrf-cloud-tag", help="Allow sec_tag 16842753 (nRF Cloud's).")
    ] = False,
    allow_tls_decrypt_tag: Annotated[
        bool, typer.Option("--allow-tls-decrypt-tag", help="Allow TLS-decrypt sec_tags (mfw >= 2.0).")
    ] = False,
) -> None:
    """Store one credential: the same checks, canonical encoding and digest verification as `apply` (exit 5 and
    nothing sent when the file is not right for TAG/TYPE); an identical stored entry is left alone."""
    from credwarden.provision.manifest import single_credential_manifest

    opts = cli_context(ctx)
    with cli_errors(), _content_file(file) as path:
        code = _type(cred_type)
        try:
            manifest = single_credential_manifest(
                tag,
                code,
                path,
                password_env=password_env,
                label=f"credwarden write {tag} {code.cli_name} ({'stdin' if str(file) == '-' else file})",
                allow_expired=allow_expired,
                allow_not_yet_valid=allow_not_yet_valid,
                allow_nrf_cloud_tag=allow_nrf_cloud_tag,
                allow_tls_decrypt_tag=allow_tls_decrypt_tag,
            )
            report = _apply_one(opts, manifest, f"writing {tag}/{code.cli_name}")
        except ValidationError as exc:
            if opts.json:
                raise validation_json(exc) from None
            raise
        emit(_write_result(report, opts), opts.json, render_acted)
        if report.exit_code != ExitCode.OK:
            raise typer.Exit(int(report.exit_code))


def _apply_one(opts: CliContext, manifest: Any, what: str) -> ApplyReport:
    from credwarden.provision.apply import apply
    from credwarden.provision.resolve import resolve_manifest

    resolve_manifest(manifest)  # every check that needs no device, before the port is opened
    with open_device(opts) as dev, progress(what):
        return apply(dev, manifest)


def _write_result(report: ApplyReport, opts: CliContext) -> Acted:
    from credwarden.creds.encoding import predicted_sha256
    from credwarden.log import redaction_marker
    from credwarden.types import as_dialect

    (result,) = report.results
    item = result.action.desired
    assert item is not None
    content = item.credential.content
    sha = predicted_sha256(content, as_dialect(report.device.dialect))
    code = CredType(result.action.type)
    shown = redaction_marker(content) if code in SECRET_TYPES else f"{len(content)} bytes"
    if result.status == "written":
        text = f"wrote {shown} to sec_tag {result.action.sec_tag} as {code.cli_name}; the modem lists sha256 {sha}"
    elif result.status == "unchanged":
        text = f"sec_tag {result.action.sec_tag} {code.cli_name} already holds this content ({result.action.reason})"
    else:
        text = f"sec_tag {result.action.sec_tag} {code.cli_name}: {result.status}: {report.message or result.detail}"
    data = {
        **slot_json(result.action.sec_tag, code),
        "length": len(content),
        "predicted_sha256": sha,
        "written": result.status == "written",
        "status": result.status,
        "ok": report.ok,
    }
    return Acted(text, data, report.device.imei, report.device.port or opts.port)


@commands.command(rich_help_panel=PANEL)
def delete(ctx: typer.Context, tag: TagArg, cred_type: TypeArg) -> None:
    """Delete one credential (exit 4 with 'not found' when it does not exist; modem-owned entries are refused
    before anything is sent, exit 5)."""
    opts = cli_context(ctx)
    with cli_errors():
        code = _type(cred_type)
        if not user_deletable(tag, code):
            refused = ValidationError(
                f"{tag}/{code.cli_name} is a reserved or modem-owned entry; the modem refuses to delete it (CME 514)"
            )
            if opts.json:
                raise validation_json(refused)
            raise refused
        with open_device(opts) as dev:
            imei = device_imei(dev)
            dev.delete(tag, code)
        data = {**slot_json(tag, code), "deleted": True}
        emit(Acted(f"deleted {tag}/{code.cli_name}", data, imei, opts.port), opts.json, render_acted)


TagsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        help="Only these sec_tags: N or A-B, repeatable (each is listed on its own, which also works when the "
        "full list is too large for the NCS shell's buffer).",
        show_default=False,
    ),
]
#: Most sec_tags one `--tag A-B` range may name (each is one `AT%CMNG=1,<tag>`).
MAX_TAG_RANGE = 10_000


def parse_tags(values: list[str]) -> list[int]:
    """`["42", "100-110"]` -> the sec_tags they name (UsageError for anything else)."""
    tags: set[int] = set()
    for value in values:
        first, dash, last = value.strip().partition("-")
        try:
            start, end = int(first), int(last) if dash else int(first)
        except ValueError:
            raise UsageError(f"--tag {value!r}: expected a sec_tag (42) or a range (100-110)") from None
        if start > end or end - start >= MAX_TAG_RANGE:
            raise UsageError(f"--tag {value!r}: a range runs low-high and names at most {MAX_TAG_RANGE} tags")
        tags.update(range(start, end + 1))
    return sorted(tags)


@commands.command("delete-all", rich_help_panel=PANEL)
def delete_all(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    tag: TagsOption = None,
) -> None:
    """Delete every user credential (tags 0..2147483647), or those on --tag; modem-owned entries are never touched."""
    opts = cli_context(ctx)
    with cli_errors():
        tags = parse_tags(tag) if tag else None
        with open_device(opts) as dev:
            imei = device_imei(dev)
            entries = dev.user_entries(tags)
            if entries and not yes:
                scope = f" on {plural(len(tags), 'sec_tag')}" if tags is not None else ""
                question = (
                    f"Delete {plural(len(entries), 'user credential')}{scope} from {device_name(imei, opts.port)}?"
                )
                if not typer.confirm(question, err=True):
                    raise UsageError("not confirmed (use --yes to skip the question); nothing was deleted")
            outcomes = dev.delete_entries(entries)
        result = Acted(
            f"deleted {sum(o.deleted for o in outcomes)} of {plural(len(outcomes), 'user credential')}",
            {"entries": [_outcome_json(o) for o in outcomes]},
            imei,
            opts.port,
        )
        emit(result, opts.json, render_outcomes)
        if any(not o.deleted for o in outcomes):
            raise typer.Exit(int(ExitCode.MODEM_REFUSED))


def _outcome_json(outcome: DeleteOutcome) -> dict[str, Any]:
    return outcome.to_json()


@commands.command(rich_help_panel=PANEL)
def keygen(
    ctx: typer.Context,
    tag: TagArg,
    attributes: Annotated[
        str | None, typer.Option("--attributes", help='CSR subject, e.g. "CN=my-device,O=ACME".')
    ] = None,
    out: OutOption = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="CSR file format: pem or der (default: der for .der/.cer files, else pem)."),
    ] = None,
) -> None:
    """Generate a private key on the modem (it never leaves) and print/save its CSR."""
    opts = cli_context(ctx)
    with cli_errors():
        if fmt is None:
            fmt = "der" if out is not None and out.suffix.lower() in (".der", ".cer") else "pem"
        if fmt not in ("pem", "der"):
            raise UsageError(f"unknown --format {fmt!r}; use pem or der")
        with open_device(opts) as dev, progress("generating the key on the modem"):
            imei = device_imei(dev)
            result = dev.keygen(tag, attributes)
        if out is not None:
            write_output_file(out, result.csr_pem.encode("ascii") if fmt == "pem" else result.csr_der)
            if not opts.json:
                note(f"key generated in sec_tag {tag} ({device_name(imei, opts.port)}); CSR written to {out}")
                return
        emit(result, opts.json, render_keygen)


@commands.command(rich_help_panel=PANEL)
def attest(ctx: typer.Context) -> None:
    """Read and decode the attestation token (device UUID, type, firmware UUID)."""
    opts = cli_context(ctx)
    with cli_errors():
        with open_device(opts) as dev:
            token = dev.attest()
        emit(token, opts.json, render_attest)


@commands.command(rich_help_panel=PANEL)
def expiry(ctx: typer.Context, tag: TagArg, cred_type: TypeArg) -> None:
    """Validity period of a stored certificate (%CERTEXPIRY)."""
    opts = cli_context(ctx)
    with cli_errors():
        code = _type(cred_type)
        with open_device(opts) as dev:
            result = dev.expiry(tag, code)
        emit(result, opts.json, render_expiry)


@commands.command("at", rich_help_panel=PANEL)
def at_cmd(
    ctx: typer.Context, command: Annotated[str, typer.Argument(help="The AT command, e.g. 'AT+CEREG?'.")]
) -> None:
    """Send one raw AT command and print its answer (errors explained, exit 4)."""
    opts = cli_context(ctx)
    with cli_errors():
        with open_device(opts) as dev:
            answer = dev.at(command, timeout=opts.timeout)
        data = {
            "command": answer.command,
            "lines": list(answer.lines),
            "final": answer.final.line,
            "urcs": list(answer.urcs),
        }
        text = "\n".join([*answer.lines, answer.final.line])
        emit(_Message(text, data), opts.json, _render_message)


# -- files -------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _content_file(file: Path) -> Iterator[Path]:
    """FILE as a path; '-' reads stdin into a private temporary file (mode 0600) removed afterwards."""
    if str(file) != "-":
        yield file
        return
    fd, tmp = tempfile.mkstemp(prefix="credwarden-stdin-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(sys.stdin.buffer.read())
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_output_file(path: Path, data: bytes) -> None:
    """Write an output file (the umask decides its mode, as for any tool's output)."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
