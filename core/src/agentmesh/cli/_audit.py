"""``agentmesh audit``: verify the audit trail, export it, make a checkpoint key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentmesh.cli._output import JsonOption, err_console, fail, out_console, print_json
from agentmesh.core import get_settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from agentmesh.supervisor import PartitionReport

__all__ = ["audit_app"]

audit_app = typer.Typer(
    help="The hash-chained, signed audit trail (<namespace>.audit): verify, export, keys.",
    no_args_is_help=True,
)

KeyOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--key",
        metavar="PUB",
        help="Public key (PEM) the checkpoints must be signed with; repeat it for the keys "
        "of earlier rotations. Without it, only the hash links are checked.",
    ),
]


@audit_app.command("verify")
def verify(
    key: KeyOption = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            metavar="DIR",
            help="Verify an export written by `agentmesh audit export` (no Kafka needed) "
            "instead of the topic.",
        ),
    ] = None,
    json_mode: JsonOption = False,
) -> None:
    """Check every audit partition: altered, dropped, reordered or inserted records, a head
    cut off, and (with --key) signed checkpoints: a tail dropped after one, forged records,
    bad signatures, unknown keys, and records no checkpoint covers yet.

    Exit 0: intact (warnings, such as an unsigned tail, allowed); 1: tampering found;
    2: the command could not run as asked (bad key file, no export there).
    """
    from agentmesh.supervisor import ExportError, SigningKeyError, load_export, load_public_keys

    settings = get_settings()
    try:
        keys = load_public_keys(key) if key else None
    except SigningKeyError as exc:
        fail(str(exc), json_mode=json_mode, code=2)
    problems: list[str] = []
    if directory is not None:
        try:
            export = load_export(directory)
        except ExportError as exc:
            fail(str(exc), json_mode=json_mode, code=2)
        reports, problems = export.check(keys), export.problems
        source = f"export {directory}"
    else:
        reports = _check_topic(keys, json_mode=json_mode)
        source = f"topic {settings.namespace}.audit"
    ok = all(r.ok for r in reports) and not problems
    if json_mode:
        print_json(
            {
                "ok": ok,
                "source": source,
                "signatures_checked": keys is not None,
                "keys": sorted(keys) if keys else [],
                "problems": problems,
                "partitions": [r.to_json() for r in reports],
            }
        )
    else:
        _print_reports(source, reports, problems, signatures=keys is not None)
    raise typer.Exit(0 if ok else 1)


def _check_topic(
    keys: dict[str, Ed25519PublicKey] | None, *, json_mode: bool
) -> list[PartitionReport]:
    from agentmesh.core.transport import KafkaConnection
    from agentmesh.supervisor import check_topic

    settings = get_settings()
    try:
        return asyncio.run(check_topic(KafkaConnection.from_settings(settings), settings, keys))
    except Exception as exc:  # noqa: BLE001 - any failure to read is reported, not a traceback
        fail(f"could not read {settings.namespace}.audit: {exc}", json_mode=json_mode, code=2)


def _print_reports(
    source: str, reports: list[PartitionReport], problems: list[str], *, signatures: bool
) -> None:
    for r in reports:
        failures = sum(f.severity == "failure" for f in r.findings)
        status = "ok" if r.ok else f"TAMPERED ({failures} finding(s))"
        span = f", seq {r.first_seq}-{r.last_seq}" if r.records else ""
        signed = ""
        if signatures:
            through = "nothing" if r.signed_through is None else f"seq {r.signed_through}"
            signed = f", signed through {through} ({r.checkpoints} checkpoint(s))"
        out_console.print(
            f"partition {r.partition}: {r.records} records{span}{signed}: {status}",
            highlight=False,
        )
        for f in r.findings:
            label = {"failure": "  ✗", "warning": "  warning:", "note": "  note:"}[f.severity]
            out_console.print(f"{label} {f.message}", highlight=False)
    for problem in problems:
        out_console.print(f"✗ {problem}", highlight=False)
    if not reports:
        out_console.print(f"{source} has no records yet", highlight=False)
    if not signatures:
        out_console.print(
            "note: checkpoint signatures were not checked; give the public key with --key",
            highlight=False,
        )


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)",
            param_hint=name,
        ) from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@audit_app.command("export")
def export(
    out: Annotated[
        Path, typer.Option("--out", help="Directory to write to (created; must hold no export).")
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only records written at or after this ISO 8601 time (UTC unless it says). "
            "The export then verifies as 'cut off at seq N (export starts here)'.",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Only records written up to this ISO 8601 time."),
    ] = None,
    key: Annotated[
        list[Path] | None,
        typer.Option(
            "--key",
            metavar="PUB",
            help="Public key(s) to copy into the export. Default: the public half of the "
            "configured signing key, when this machine has it.",
        ),
    ] = None,
    json_mode: JsonOption = False,
) -> None:
    """Write the audit records and signed checkpoints as JSON lines (one file per
    partition, checkpoints.jsonl), the public key(s) and a manifest, for cold storage.
    Verify it later, with no Kafka: `agentmesh audit verify --dir DIR --key PUB`."""
    from agentmesh.core.transport import KafkaConnection
    from agentmesh.supervisor import SigningKeyError, export_audit, load_public_keys, signing_key

    settings = get_settings()
    start, end = _when(since, "--since"), _when(until, "--until")
    if (out / "manifest.json").exists():
        fail(
            f"{out} already holds an export; choose an empty directory", json_mode=json_mode, code=2
        )
    try:
        public = list(load_public_keys(key).values()) if key else []
        if not key:
            signer = signing_key(settings)
            public = [signer.public_key] if signer is not None else []
    except SigningKeyError as exc:
        fail(str(exc), json_mode=json_mode, code=2)

    def progress(partition: int, records: int) -> None:
        # On stderr, also with --json (whose result is on stdout): a long export shows life.
        err_console.print(f"partition {partition}: {records} records…", highlight=False)

    try:
        manifest = asyncio.run(
            export_audit(
                KafkaConnection.from_settings(settings),
                settings,
                out,
                since=start,
                until=end,
                public_keys=public,
                progress=progress,
            )
        )
    except OSError as exc:
        fail(f"could not write {out}: {exc}", json_mode=json_mode, code=2)
    except Exception as exc:  # noqa: BLE001 - any failure to read is reported, not a traceback
        fail(f"could not read {settings.namespace}.audit: {exc}", json_mode=json_mode)
    if json_mode:
        print_json({"ok": True, "out": str(out), "manifest": manifest})
        return
    _print_export(out, manifest)


def _print_export(out: Path, manifest: dict[str, Any]) -> None:
    records = sum(p["records"] for p in manifest["partitions"])
    out_console.print(
        f"exported {records} records ({manifest['checkpoints']} checkpoints) of "
        f"{len(manifest['partitions'])} partition(s) to {out}",
        highlight=False,
    )
    if not manifest["public_keys"]:
        err_console.print(
            "warning: no public key in the export (none configured here): keep the "
            "supervisor's public key with it, or pass --key",
            highlight=False,
        )
    out_console.print(
        f"verify it with: agentmesh audit verify --dir {out} --key PUB", highlight=False
    )


@audit_app.command("keygen")
def keygen(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Private key file to create (mode 0600); the public "
            "key goes beside it as <name>.pub.pem.",
        ),
    ],
    json_mode: JsonOption = False,
) -> None:
    """Make an Ed25519 key pair for signing audit checkpoints (AGENTMESH_AUDIT_SIGNING_KEY_FILE)."""
    from agentmesh.supervisor import create_key_file

    if out.exists():
        fail(f"{out} exists; refusing to overwrite a key", json_mode=json_mode, code=2)
    signer = create_key_file(out)
    public = out.with_suffix(".pub.pem")
    if json_mode:
        print_json(
            {"ok": True, "key_id": signer.key_id, "private": str(out), "public": str(public)}
        )
        return
    out_console.print(f"key {signer.key_id}: private {out}, public {public}", highlight=False)
