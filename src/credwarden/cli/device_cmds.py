"""Device commands: info, list, read, write, delete, delete-all, keygen, attest, expiry, at.

Each command has a rich rendering for people and `--json` for machines (same result object).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from credwarden.cli.common import (
    BaudOption,
    DebugOption,
    FlowControlOption,
    JsonOption,
    ModeOption,
    PortOption,
    TimeoutOption,
    cli_errors,
    connection_options,
    emit,
    open_device,
    progress,
)
from credwarden.errors import ExitCode, UsageError, ValidationError
from credwarden.log import redaction_marker
from credwarden.models import (
    AttestationToken,
    CertExpiry,
    DeleteOutcome,
    DeviceInfo,
    KeygenResult,
    ReadResult,
    StoredEntry,
)
from credwarden.types import SECRET_TYPES, CredType, parse_type, type_name

TagArg = Annotated[int, typer.Argument(min=0, max=4_294_967_295, help="sec_tag (0..2147483647 for user entries)")]
TypeArg = Annotated[str, typer.Argument(help="Credential type: code (0-13) or name (root-ca, client-cert, ...)")]


def _type(value: str) -> CredType:
    try:
        return parse_type(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# -- renderers ---------------------------------------------------------------------------------------------
def render_info(info: DeviceInfo, console: Console) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
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


def render_entries(entries: list[StoredEntry], console: Console) -> None:
    if not entries:
        console.print("no credentials stored (matching the filter)")
        return
    table = Table(title=f"{len(entries)} stored credential(s)")
    table.add_column("sec_tag", justify="right", no_wrap=True, min_width=10)
    table.add_column("type", overflow="fold", min_width=14)
    table.add_column("SHA-256 (as listed)", overflow="fold")
    for entry in entries:
        sha = entry.sha256 or "-"
        if entry.placeholder_digest:
            sha += " (placeholder: old firmware prints no real digest)"
        table.add_row(str(entry.sec_tag), f"{entry.type} {entry.type_name}", sha)
    console.print(table)


def render_read(result: ReadResult, console: Console) -> None:
    entry = result.entry
    console.print(
        f"[bold]{entry.sec_tag}[/] {entry.type_name}  {len(result.content)} bytes  sha256 {entry.sha256 or '-'}",
        highlight=False,
    )
    console.out(result.content.decode("ascii", errors="replace"), highlight=False, end="")


def render_outcomes(outcomes: list[DeleteOutcome], console: Console) -> None:
    if not outcomes:
        console.print("no user credentials stored; nothing deleted")
        return
    table = Table(title="delete-all")
    table.add_column("sec_tag", justify="right")
    table.add_column("type")
    table.add_column("result")
    for item in outcomes:
        table.add_row(str(item.sec_tag), type_name(item.type), "deleted" if item.deleted else f"kept: {item.error}")
    console.print(table)


def render_keygen(result: KeygenResult, console: Console) -> None:
    console.print(f"key generated in sec_tag {result.sec_tag}; CSR subject {result.subject}", highlight=False)
    if result.repaired_null_params:
        console.print("note: the modem's CSR carried a NULL signature parameter; repaired", highlight=False)
    if result.device_uuid:
        console.print(f"device UUID {result.device_uuid}", highlight=False)
    console.out(result.csr_pem, highlight=False)


def render_attest(token: AttestationToken, console: Console) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
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
    console.print(result.text, highlight=False)


# -- commands ----------------------------------------------------------------------------------------------
def register(app: typer.Typer) -> None:
    """Add the device commands to `app`."""

    @app.command()
    def info(
        ctx: typer.Context,
        port: PortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        json_out: JsonOption = False,
        debug: DebugOption = False,
    ) -> None:
        """Identity and state: IMEI, model, firmware, UUIDs, CFUN, dialect."""
        with cli_errors():
            opts = connection_options(
                ctx,
                port=port,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )
            with open_device(opts) as dev, progress("reading identity"):
                result = dev.info()
            emit(result, opts.json, render_info)

    @app.command("list")
    def list_cmd(
        ctx: typer.Context,
        tag: Annotated[int | None, typer.Option("--tag", min=0, help="Only this sec_tag.")] = None,
        type_: Annotated[str | None, typer.Option("--type", help="Only this type (code or name).")] = None,
        port: PortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        json_out: JsonOption = False,
        debug: DebugOption = False,
        no_record: Annotated[
            bool,
            typer.Option(
                "--no-record",
                help="Do not record a snapshot in the inventory (a full list is recorded by default; see `inventory`).",
            ),
        ] = False,
        db: Annotated[str | None, typer.Option("--db", help="Inventory database path or URL.")] = None,
        with_expiry: Annotated[
            bool,
            typer.Option(
                "--expiry",
                help="Also ask %CERTEXPIRY for each certificate "
                "(firmware >= 1.3) and record its not_after in the inventory.",
            ),
        ] = False,
    ) -> None:
        """Stored credentials with their SHA-256 (JSON: array of StoredEntry objects)."""
        with cli_errors():
            opts = connection_options(
                ctx,
                port=port,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )
            code = _type(type_) if type_ is not None else None
            with open_device(opts) as dev:
                entries = dev.list(sec_tag=tag, type=code)
                if not no_record and tag is None and code is None:
                    from credwarden.inventory.live import record_list

                    record_list(dev, entries, db=db, with_expiry=with_expiry)
            emit(entries, opts.json, render_entries)

    @app.command()
    def read(
        ctx: typer.Context,
        tag: TagArg,
        cred_type: TypeArg,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the content to this file.")] = None,
        port: PortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        json_out: JsonOption = False,
        debug: DebugOption = False,
    ) -> None:
        """Read back a root CA certificate (0) or PSK identity (4), byte-exact."""
        with cli_errors():
            opts = connection_options(
                ctx,
                port=port,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )
            code = _type(cred_type)
            with open_device(opts) as dev:
                result = dev.read(tag, code)
            if out is not None:
                _write_file(out, result.content)
            emit(result, opts.json, render_read)

    @app.command()
    def write(
        ctx: typer.Context,
        tag: TagArg,
        cred_type: TypeArg,
        file: Annotated[Path, typer.Argument(help="File with the content, sent as-is ('-' for stdin).")],
        password_env: Annotated[
            str | None,
            typer.Option("--password-env", help="Name of an environment variable holding the key password."),
        ] = None,
        port: PortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        json_out: JsonOption = False,
        debug: DebugOption = False,
    ) -> None:
        """Store FILE's content in TAG/TYPE (goes offline only if needed, restores CFUN)."""
        with cli_errors():
            opts = connection_options(
                ctx,
                port=port,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )
            code = _type(cred_type)
            content = _read_file(file)
            password = _password(password_env)
            with open_device(opts) as dev:
                stored = dev.stored_form(content)
                with progress(f"writing {len(content)} bytes to {tag}/{code.cli_name}"):
                    dev.write(tag, code, content, password)
            from credwarden.creds.encoding import sha256_hex

            shown = redaction_marker(content) if code in SECRET_TYPES else f"{len(content)} bytes"
            result = _Message(
                f"wrote {shown} to sec_tag {tag} as {code.cli_name}; the modem will list sha256 {sha256_hex(stored)}",
                {
                    "sec_tag": tag,
                    "type": int(code),
                    "type_name": code.cli_name,
                    "length": len(content),
                    "predicted_sha256": sha256_hex(stored),
                    "written": True,
                },
            )
            emit(result, opts.json, _render_message)

    @app.command()
    def delete(
        ctx: typer.Context,
        tag: TagArg,
        cred_type: TypeArg,
        port: PortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        json_out: JsonOption = False,
        debug: DebugOption = False,
    ) -> None:
        """Delete one credential (exit 4 with 'not found' when it does not exist)."""
        with cli_errors():
            opts = connection_options(
                ctx,
                port=port,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )
            code = _type(cred_type)
            with open_device(opts) as dev:
                dev.delete(tag, code)
            emit(
                _Message(
                    f"deleted {tag}/{code.cli_name}",
                    {"sec_tag": tag, "type": int(code), "type_name": code.cli_name, "deleted": True},
                ),
                opts.json,
                _render_message,
            )

    @app.command("delete-all")
    def delete_all(
        ctx: typer.Context,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
        port: PortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        json_out: JsonOption = False,
        debug: DebugOption = False,
    ) -> None:
        """Delete every user credential (tags 0..2147483647); modem-owned entries are never touched."""
        with cli_errors():
            opts = connection_options(
                ctx,
                port=port,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )
            if not yes and not typer.confirm("Delete every user credential on the device?", err=True):
                raise UsageError("not confirmed (use --yes to skip the question)")
            with open_device(opts) as dev:
                outcomes = dev.delete_all()
            emit(outcomes, opts.json, render_outcomes)
            if any(not o.deleted for o in outcomes):
                raise typer.Exit(int(ExitCode.MODEM_REFUSED))

    @app.command()
    def keygen(
        ctx: typer.Context,
        tag: TagArg,
        attributes: Annotated[
            str | None, typer.Option("--attributes", help='CSR subject, e.g. "CN=my-device,O=ACME".')
        ] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the CSR to this file.")] = None,
        fmt: Annotated[
            str | None,
            typer.Option("--format", help="CSR file format: pem or der (default: der for .der/.cer files, else pem)."),
        ] = None,
        port: PortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        json_out: JsonOption = False,
        debug: DebugOption = False,
    ) -> None:
        """Generate a private key on the modem (it never leaves) and print/save its CSR."""
        with cli_errors():
            opts = connection_options(
                ctx,
                port=port,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )
            if fmt is None:
                fmt = "der" if out is not None and out.suffix.lower() in (".der", ".cer") else "pem"
            if fmt not in ("pem", "der"):
                raise UsageError(f"unknown --format {fmt!r}; use pem or der")
            with open_device(opts) as dev, progress("generating the key on the modem"):
                result = dev.keygen(tag, attributes)
            if out is not None:
                _write_file(out, result.csr_pem.encode("ascii") if fmt == "pem" else result.csr_der)
            emit(result, opts.json, render_keygen)

    @app.command()
    def attest(
        ctx: typer.Context,
        port: PortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        json_out: JsonOption = False,
        debug: DebugOption = False,
    ) -> None:
        """Read and decode the attestation token (device UUID, type, firmware UUID)."""
        with cli_errors():
            opts = connection_options(
                ctx,
                port=port,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )
            with open_device(opts) as dev:
                token = dev.attest()
            emit(token, opts.json, render_attest)

    @app.command()
    def expiry(
        ctx: typer.Context,
        tag: TagArg,
        cred_type: TypeArg,
        port: PortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        json_out: JsonOption = False,
        debug: DebugOption = False,
    ) -> None:
        """Validity period of a stored certificate (%CERTEXPIRY)."""
        with cli_errors():
            opts = connection_options(
                ctx,
                port=port,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )
            code = _type(cred_type)
            with open_device(opts) as dev:
                result = dev.expiry(tag, code)
            emit(result, opts.json, render_expiry)

    @app.command("at")
    def at_cmd(
        ctx: typer.Context,
        command: Annotated[str, typer.Argument(help="The AT command, e.g. 'AT+CEREG?'.")],
        port: PortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        json_out: JsonOption = False,
        debug: DebugOption = False,
    ) -> None:
        """Send one raw AT command and print its answer (errors explained, exit 4)."""
        with cli_errors():
            opts = connection_options(
                ctx,
                port=port,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )
            with open_device(opts) as dev:
                answer = dev.at(command, timeout=timeout)
            data = {
                "command": answer.command,
                "lines": list(answer.lines),
                "final": answer.final.line,
                "urcs": list(answer.urcs),
            }
            text = "\n".join([*answer.lines, answer.final.line])
            emit(_Message(text, data), opts.json, _render_message)


# -- files and secrets -------------------------------------------------------------------------------------
def _read_file(path: Path) -> bytes:
    import sys

    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ValidationError("no such file", source=str(path)) from None
    except OSError as exc:
        raise ValidationError(f"cannot read: {exc.strerror}", source=str(path)) from None


def _write_file(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def _password(env_name: str | None) -> str | None:
    if env_name is None:
        return None
    import os

    value = os.environ.get(env_name)
    if value is None:
        raise UsageError(f"environment variable {env_name} (from --password-env) is not set")
    return value
