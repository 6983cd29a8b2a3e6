"""``agentmesh task submit``: one task (``--input``) or many (``--file``), straight to Kafka
through one producer, or through a gateway."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from pydantic import BaseModel, ConfigDict, Field

from agentmesh.cli._apps import AppOption, load_app, running_demo_app
from agentmesh.cli._output import (
    JsonOption,
    err_console,
    fail,
    out_console,
    print_json,
    shell_command,
)
from agentmesh.cli._remote import GatewayOpt, TokenOpt, run
from agentmesh.core import Settings, get_settings

if TYPE_CHECKING:
    from agentmesh.agents import Mesh
    from agentmesh.contracts import Budget

__all__ = ["Limits", "mesh_for", "submit"]


class Limits(BaseModel):
    """A task's budget as the command line and a ``--file`` line give it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int | None = Field(default=None, ge=0)
    max_cost_usd: Decimal | None = Field(default=None, ge=0)
    max_steps: int | None = Field(default=None, ge=0)
    max_hops: int | None = Field(default=None, ge=0)
    deadline_s: float | None = Field(default=None, gt=0)

    def budget(self) -> Budget:
        """The budget to submit; ``deadline_s`` counts from now."""
        from agentmesh.contracts import Budget, utcnow

        deadline = utcnow() + timedelta(seconds=self.deadline_s) if self.deadline_s else None
        return Budget(
            max_tokens=self.max_tokens,
            max_cost_usd=self.max_cost_usd,
            max_steps=self.max_steps,
            max_hops=self.max_hops,
            deadline=deadline,
        )

    def body(self) -> dict[str, Any] | None:
        """The gateway's ``budget`` field: only what is set."""
        return self.model_dump(mode="json", exclude_none=True) or None


def submit(  # noqa: PLR0917 - each option is one CLI flag
    agent: Annotated[
        str | None,
        typer.Argument(help="The entry agent (with --file: of the lines that name none)."),
    ] = None,
    input_json: Annotated[
        str | None, typer.Option("--input", help="The agent's input payload, JSON.")
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            help="Many tasks: JSON Lines ('-' reads stdin), one task per line: {\"agent\", "
            '"input", "tenant", "budget", "idempotency_key", "labels"}, all but "input" '
            "optional (defaults: AGENT and the options).",
            show_default=False,
        ),
    ] = None,
    app: AppOption = None,
    max_tokens: Annotated[int | None, typer.Option(help="Token budget of the task.")] = None,
    max_cost_usd: Annotated[str | None, typer.Option(help="Cost budget in USD, e.g. 0.50.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="LLM + tool calls allowed.")] = None,
    max_hops: Annotated[int | None, typer.Option(help="Handoffs allowed.")] = None,
    deadline_s: Annotated[float | None, typer.Option(help="Wall-clock limit, seconds.")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Same key, same task.")] = None,
    tenant: Annotated[str, typer.Option(help="Whose task it is (budgets, spend).")] = "default",
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    json_out: JsonOption = False,
) -> None:
    """Publish a task to AGENT and print its id; or, with --file, one task per line.

    The input is checked by AGENT's input model first (a refusal names the field, e.g.
    input.question; exit 2). Straight to Kafka (the mesh's models: --app), or with --gateway
    through the gateway, which checks it the same way and records your token's name as the
    submitter. With --file each line's outcome is printed in order (the task id, or why the
    line was refused): bad lines never stop the others; exit 0 when every line was
    submitted, 2 when some were refused, 1 when some could not be written.
    """
    limits = _limits(max_tokens, max_cost_usd, max_steps, max_hops, deadline_s, json_out)
    # aiokafka's "retrying" warnings (a new topic's leader not elected yet) say nothing a
    # submitter can act on; real failures still end the command with what went wrong.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    if (input_json is None) == (file is None):
        fail("give --input JSON (one task) or --file PATH (many)", json_mode=json_out, code=2)
    if file is not None:
        if idempotency_key is not None:
            fail(
                "--idempotency-key names one task; with --file each line carries its own "
                '"idempotency_key"',
                json_mode=json_out,
                code=2,
            )
        from agentmesh.cli._submit_file import submit_file

        defaults = {"agent": agent, "tenant": tenant, "limits": limits}
        submit_file(file, defaults, app=app, gateway=gateway, token=token, json_out=json_out)
        return
    if agent is None:
        fail("which agent? give AGENT with --input", json_mode=json_out, code=2)
    try:
        payload: Any = orjson.loads(input_json or "")
    except orjson.JSONDecodeError as exc:
        fail(f"--input is not valid JSON: {exc}", json_mode=json_out, code=2)
    if gateway:
        body = {"agent": agent, "input": payload, "tenant": tenant, "budget": limits.body()}
        answer = run(
            _submit_remote(gateway, token, body, idempotency_key),
            json_mode=json_out,
            doing=f"submit a task to {agent}",
        )
        _submitted(answer["task_id"], json_out, duplicate=bool(answer.get("duplicate")))
        return
    task_id = _submit_direct(agent, payload, limits, tenant, idempotency_key, app, json_out)
    _submitted(task_id, json_out)


def _limits(  # noqa: PLR0917 - the budget options, as given
    max_tokens: int | None,
    max_cost_usd: str | None,
    max_steps: int | None,
    max_hops: int | None,
    deadline_s: float | None,
    json_out: bool,
) -> Limits:
    from pydantic import ValidationError

    try:
        return Limits(
            max_tokens=max_tokens,
            max_cost_usd=max_cost_usd,  # pydantic reads "0.50" as a Decimal
            max_steps=max_steps,
            max_hops=max_hops,
            deadline_s=deadline_s,
        )
    except ValidationError as exc:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(problems.replace("_", "-"), json_mode=json_out, code=2)


def mesh_for(app: str | None, settings: Settings, json_out: bool) -> Mesh:
    """The mesh whose models check the input: --app, AGENTMESH_APP or the running demo's."""
    mesh = load_app(app or settings.app or running_demo_app(settings), json_mode=json_out)
    if mesh is None:
        fail(
            "which mesh? pass --app package.module:mesh or set AGENTMESH_APP "
            "(or submit through a gateway with --gateway URL --token T; while `make run` "
            "runs, its mesh is found by itself)",
            json_mode=json_out,
        )
    return mesh


def _submit_direct(  # noqa: PLR0917 - one task's parts, as given
    agent: str,
    payload: Any,
    limits: Limits,
    tenant: str,
    idempotency_key: str | None,
    app: str | None,
    json_out: bool,
) -> str:
    from agentmesh.agents import AgentError, Submitter
    from agentmesh.core.submission import InputRejected, check_idempotency_key

    settings = get_settings()
    mesh = mesh_for(app, settings, json_out)

    async def go() -> str | Exception:
        try:
            if idempotency_key is not None:
                check_idempotency_key(idempotency_key, field="--idempotency-key")
            async with Submitter(settings, mesh, submitted_by="cli") as submitter:
                task = await submitter.submit(
                    agent,
                    payload,
                    budget=limits.budget(),
                    tenant=tenant,
                    idempotency_key=idempotency_key,
                )
        except (InputRejected, AgentError) as exc:
            return exc  # refused: the input's fault, not Kafka's
        return task.task_id

    answer = run(go(), json_mode=json_out, doing=f"submit a task to {agent}")
    if isinstance(answer, Exception):
        fail(f"{agent} refuses this task: {answer}", json_mode=json_out, code=2)
    return answer


async def _submit_remote(
    gateway: str, token: str | None, body: dict[str, Any], idempotency_key: str | None
) -> dict[str, Any]:
    from agentmesh.cli._gateway_client import GatewayClient
    from agentmesh.cli._tracing import trace_http_calls

    trace_http_calls()  # the task's trace starts here, the gateway's request its child
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    async with GatewayClient(gateway, token) as gw:
        found: dict[str, Any] = await gw.call(
            "POST",
            "/v1/tasks",
            json={k: v for k, v in body.items() if v is not None},
            headers=headers,
        )
        return found


def _submitted(task_id: str, json_out: bool, *, duplicate: bool = False) -> None:
    if json_out:
        print_json({"ok": True, "task_id": task_id, "duplicate": duplicate})
        return
    out_console.print(task_id, highlight=False)
    again = " (a retry of an earlier submission: the same task)" if duplicate else ""
    err_console.print(
        f"follow it with: {shell_command()} task watch {task_id}{again}", highlight=False
    )
