"""``agentmesh audit verify``: is the audit trail intact?"""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from agentmesh.cli._output import JsonOption, fail, out_console, print_json
from agentmesh.core import get_settings

__all__ = ["audit_app"]

audit_app = typer.Typer(help="The hash-chained audit trail (<namespace>.audit).")


@audit_app.command("verify")
def verify(
    json_mode: JsonOption = False,
) -> None:
    """Recompute every audit partition's hash chain; exit 1 if any record was altered,
    removed or reordered (and say which, by partition and offset)."""
    from agentmesh.core.transport import KafkaConnection
    from agentmesh.supervisor import read_chains, verify_chain

    settings = get_settings()
    try:
        chains = asyncio.run(read_chains(KafkaConnection.from_settings(settings), settings))
    except Exception as exc:  # noqa: BLE001 - any failure to read is reported, not a traceback
        fail(f"could not read {settings.namespace}.audit: {exc}", json_mode=json_mode)
    report: list[dict[str, Any]] = []
    broken = 0
    for partition, records in sorted(chains.items()):
        problems = verify_chain(records)
        broken += len(problems)
        report.append(
            {
                "partition": partition,
                "records": len(records),
                "head_sha256": records[-1][1].sha256 if records else None,
                "problems": [
                    {"offset": p.offset, "seq": p.seq, "problem": p.problem} for p in problems
                ],
            }
        )
    if json_mode:
        print_json({"ok": broken == 0, "partitions": report})
    else:
        for part in report:
            status = "ok" if not part["problems"] else f"{len(part['problems'])} problem(s)"
            out_console.print(f"partition {part['partition']}: {part['records']} records, {status}")
            for p in part["problems"]:
                out_console.print(f"  offset {p['offset']} (seq {p['seq']}): {p['problem']}")
        if not report:
            out_console.print(f"{settings.namespace}.audit has no records yet")
    raise typer.Exit(1 if broken else 0)
