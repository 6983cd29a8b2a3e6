"""A task's story printed as a tree (``agentmesh replay show``)."""

from __future__ import annotations

import orjson
from rich.tree import Tree

from agentmesh.cli._output import out_console
from agentmesh.core.views._story import StepNode, TaskStory

__all__ = ["print_story"]

_SHOWN = 160  # characters of a request or response shown inline; --json has them whole


def print_story(story: TaskStory) -> None:
    tree = Tree(
        f"task {story.task_id}: {story.tokens} tokens, ${story.cost_usd:.6f}", highlight=False
    )
    for root in story.roots:
        _add(tree, root)
    out_console.print(tree)
    if story.decisions:
        out_console.print("supervisor decisions:", highlight=False)
    for d in story.decisions:
        out_console.print(
            f"  {d.at:%H:%M:%S}  {d.decision:<20} {d.subject}  {_short(d.details_json)}  "
            f"[dim](audit {d.chain}#{d.seq})[/]",
            highlight=False,
        )


def _add(parent: Tree, step: StepNode) -> None:
    took = "" if step.duration_ms is None else f", {step.duration_ms / 1000:.2f} s"
    branch = parent.add(
        f"[bold]{step.agent or '?'}[/] (hop {step.hop if step.hop is not None else '?'}) "
        f"{step.outcome or 'not finished'}{took}, {step.tokens} tokens, ${step.cost_usd:.6f}"
        f"  [dim]{step.handoff_id}[/]",
        highlight=False,
    )
    if step.input_json is not None:
        branch.add(f"input {_short(_payload(step.input_json))}", highlight=False)
    for call in step.calls:
        what = call.target if call.kind == "tool_call" else f"{call.target}/{call.model}"
        prompt = f" prompt {call.prompt_name}@{call.prompt_version}" if call.prompt_name else ""
        branch.add(
            f"{call.kind.replace('_', ' ')} {what}{prompt} {call.status}: "
            f"asked {_short(call.request_json)} → {_short(call.response_json)}",
            highlight=False,
        )
    for use in step.usage:
        branch.add(f"{use.kind.replace('_', ' ')} (not recorded) {use.call_id}", highlight=False)
    for h in step.handoffs:
        if not any(c.handoff_id == h["handoff_id"] for c in step.children):
            branch.add(f"→ {h['to_agent']} (not handled yet)  [dim]{h['handoff_id']}[/]")
    for child in step.children:
        _add(branch, child)


def _payload(envelope_json: str) -> str:
    """The input's payload (what the agent was given), not the envelope around it: the ids,
    budget and context are in --json."""
    try:
        envelope = orjson.loads(envelope_json)
    except orjson.JSONDecodeError:
        return envelope_json
    if not isinstance(envelope, dict) or "payload" not in envelope:
        return envelope_json
    return orjson.dumps(envelope["payload"]).decode()


def _short(text: str | None) -> str:
    if text is None:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= _SHOWN else f"{flat[:_SHOWN]}…"
