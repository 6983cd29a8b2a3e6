"""An agent's declared handoff targets: a handoff elsewhere fails at the sender, by name."""

import pytest

from agentmesh.agents import Context, HandoffNotAllowedError, Mesh, Outgoing, agent
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import Contract
from tests.apps import pipeline
from tests.apps.pipeline import Work


class In(Contract):
    n: int


def _sender(targets: list[str] | None, build: str = "ctx") -> Mesh:
    @agent("sender", hands_off_to=targets)
    async def sender(payload: In, ctx: Context) -> Outgoing:
        work = Work(part=payload.n, text="x")
        if build == "ctx":
            return ctx.handoff("worker", work)
        return Outgoing(to="worker", payload=work)  # built by hand: checked all the same

    return Mesh([sender, *pipeline.mesh.agents.values()])


@pytest.mark.parametrize("build", ["ctx", "hand"])
async def test_handoff_to_an_undeclared_target_is_dead_lettered_naming_the_allowed(
    build: str,
) -> None:
    run = await AgentHarness(_sender(["collector", "planner"], build), "sender").run(In(n=1))
    assert run.handoffs == []
    (letter,) = run.dead_letters
    assert (letter.error_class, letter.attempts) == ("HandoffNotAllowedError", 1)
    assert letter.error_message == (
        "agent 'sender' may not hand off to 'worker'; allowed targets: collector, planner "
        "(declare more with @agent('sender', hands_off_to=[...]))"
    )


async def test_declared_and_undeclared_edges_both_hand_off() -> None:
    for targets in (["worker"], None):
        run = await AgentHarness(_sender(targets), "sender").run(In(n=2))
        assert [(h.to_agent, h.payload) for h in run.handoffs] == [
            ("worker", Work(part=2, text="x"))
        ]
        assert run.dead_letters == []


def test_mesh_refuses_a_declared_target_it_does_not_have() -> None:
    @agent("lonely", hands_off_to=["ghost"])
    async def lonely(payload: In, ctx: Context) -> None:
        return None

    with pytest.raises(ValueError, match=r"declares hands_off_to \['ghost'\]"):
        Mesh([lonely])


def test_mesh_answers_who_may_hand_off_where() -> None:
    mesh = _sender(["worker"])
    assert mesh.handoff_targets("sender") == ["worker"]
    assert mesh.handoff_targets("planner") == sorted(mesh.agents)  # undeclared: anyone
    with pytest.raises(HandoffNotAllowedError) as caught:
        mesh.check_handoff("sender", "collector")
    assert (caught.value.target, caught.value.allowed) == ("collector", frozenset({"worker"}))


def test_a_single_name_is_one_target() -> None:
    @agent("solo", hands_off_to="worker")
    async def solo(payload: In, ctx: Context) -> None:
        return None

    assert solo.hands_off_to == frozenset({"worker"})
