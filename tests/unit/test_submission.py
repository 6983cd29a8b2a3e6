"""What every way of submitting shares (agentmesh.core.submission): the input checked by
the entry agent's model with errors naming the user's field, the idempotency-key rule, and
group commit (over a fake producer; the real broker is in test_submitter.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from pydantic import Field

from agentmesh.contracts import Contract
from agentmesh.core.submission import (
    GroupCommit,
    InputRejected,
    Problem,
    check_idempotency_key,
    check_input,
)
from agentmesh_examples.research._models import ResearchQuestion, SubQuestion


class Item(Contract):
    name: str = Field(min_length=1)


class Basket(Contract):
    items: list[Item]


def problems(model: type[Contract], data: Any) -> list[Problem]:
    with pytest.raises(InputRejected) as caught:
        check_input(model, data)
    return list(caught.value.problems)


def test_each_problem_names_the_field_as_the_user_wrote_it() -> None:
    assert problems(ResearchQuestion, {"question": "", "max_subquestions": 99, "colour": 1}) == [
        Problem("input.question", "String should have at least 1 character (got '')"),
        Problem("input.max_subquestions", "Input should be less than or equal to 10 (got 99)"),
        Problem("input.colour", "Extra inputs are not permitted"),
    ]
    assert problems(ResearchQuestion, {}) == [Problem("input.question", "Field required")]
    assert problems(Basket, {"items": [{"name": "a"}, {"name": ""}]}) == [
        Problem("input.items.1.name", "String should have at least 1 character (got '')")
    ]
    # A rule of the whole model (a model validator) is the input's, not a field's.
    assert problems(SubQuestion, {"index": 3, "of": 2, "question": "q", "sub_question": "s"}) == [
        Problem("input", "Value error, index 3 is not below of=2")
    ]
    assert problems(ResearchQuestion, "why?") == [
        Problem(
            "input",
            "Input should be a valid dictionary or instance of ResearchQuestion (got 'why?')",
        )
    ]


def test_the_error_reads_as_its_problems_and_the_first_field_leads() -> None:
    with pytest.raises(InputRejected) as caught:
        check_input(ResearchQuestion, {"question": "", "max_subquestions": 0})
    assert caught.value.field == "input.question"
    assert str(caught.value) == (
        "input.question: String should have at least 1 character (got ''); "
        "input.max_subquestions: Input should be greater than or equal to 1 (got 0)"
    )


def test_valid_input_comes_back_as_the_model() -> None:
    typed = check_input(ResearchQuestion, {"question": "q"})
    assert typed == ResearchQuestion(question="q", max_subquestions=3, max_revisions=2)
    assert check_input(ResearchQuestion, typed) is typed


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "must be 1 to 200 characters, not 0"),
        ("k" * 201, "must be 1 to 200 characters, not 201"),
        ("order\x0142", "holds the control character '\\x01'"),
        ("tab\there", "holds the control character '\\t'"),
        ("del\x7f", "holds the control character '\\x7f'"),
        ("c1\x85", "holds the control character '\\x85'"),
    ],
)
def test_an_idempotency_key_is_printable_text_of_1_to_200_characters(
    key: str, problem: str
) -> None:
    with pytest.raises(InputRejected) as caught:
        check_idempotency_key(key, field="Idempotency-Key")
    assert caught.value.problems == (Problem("Idempotency-Key", problem),)


def test_a_printable_key_is_accepted() -> None:
    assert check_idempotency_key("order 42 / ünïcode €") == "order 42 / ünïcode €"


# -- group commit over a fake transactional producer ---------------------------------------


class FakeProducer:
    """Records committed transactions; refuses values named ``too-big`` as aiokafka does."""

    def __init__(self, committed: list[list[tuple[str, bytes, bytes]]], fail: bool) -> None:
        self.committed = committed
        self.fail = fail
        self.stopped = False
        self._open: list[tuple[str, bytes, bytes]] | None = None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self._open = []
        yield  # an exception inside aborts: nothing of this transaction is kept
        if self.fail:
            raise KafkaConnectionError("broker went away")
        await asyncio.sleep(0.01)  # the commit's round trip: others queue meanwhile
        self.committed.append(self._open)

    async def send(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]] | None
    ) -> None:
        if value == b"too-big":
            raise MessageSizeTooLargeError("The message is 2000000 bytes")
        assert self._open is not None
        self._open.append((topic, key, value))
        await asyncio.sleep(0)


class Producers:
    def __init__(self, failing: int = 0) -> None:
        self.committed: list[list[tuple[str, bytes, bytes]]] = []
        self.made: list[FakeProducer] = []
        self.failing = failing  # how many of the first producers fail their commits

    def __call__(self) -> FakeProducer:
        producer = FakeProducer(self.committed, fail=len(self.made) < self.failing)
        self.made.append(producer)
        return producer


def pair(i: int) -> list[tuple[str, bytes, bytes]]:
    key = f"t{i}".encode()
    return [("tasks", key, b"task"), ("inbox", key, b"handoff")]


async def test_concurrent_writes_share_transactions_and_each_stays_whole() -> None:
    producers = Producers()
    writer = GroupCommit(producers, max_batch=10)
    await writer.start()
    await asyncio.gather(*(writer.write(pair(i)) for i in range(25)))
    await writer.stop()
    assert [len(t) for t in producers.committed] == [20, 20, 10]  # 10 writes of 2 records each
    assert sorted(r for t in producers.committed for r in t) == sorted(
        r for i in range(25) for r in pair(i)
    )
    assert (len(producers.made), producers.made[0].stopped) == (1, True)


async def test_a_record_over_the_size_limit_fails_its_write_alone() -> None:
    producers = Producers()
    writer = GroupCommit(producers)
    await writer.start()
    big = [("tasks", b"t-big", b"task"), ("inbox", b"t-big", b"too-big")]
    results = await asyncio.gather(
        writer.write(pair(1)), writer.write(big), writer.write(pair(2)), return_exceptions=True
    )
    await writer.stop()
    assert [type(r).__name__ for r in results] == [
        "NoneType",
        "MessageSizeTooLargeError",
        "NoneType",
    ]
    # Its task record, sent before the handoff was refused, went with the aborted attempt;
    # the others were written again, together.
    assert producers.committed == [pair(1) + pair(2)]


async def test_a_failed_transaction_fails_its_writes_and_the_next_gets_a_new_producer() -> None:
    producers = Producers(failing=1)
    writer = GroupCommit(producers)
    await writer.start()
    with pytest.raises(KafkaConnectionError):
        await writer.write(pair(1))
    await writer.write(pair(2))
    await writer.stop()
    assert producers.committed == [pair(2)]
    assert [p.stopped for p in producers.made] == [True, True]


async def test_stop_writes_what_is_queued_and_then_refuses_more() -> None:
    producers = Producers()
    writer = GroupCommit(producers)
    await writer.start()
    queued = [writer.enqueue(pair(i)) for i in range(3)]
    await writer.stop()
    assert all(f.done() and f.exception() is None for f in queued)
    assert sorted(r for t in producers.committed for r in t) == sorted(
        r for i in range(3) for r in pair(i)
    )
    with pytest.raises(RuntimeError, match="not running"):
        writer.enqueue(pair(9))


async def test_a_write_its_caller_gave_up_on_before_its_transaction_is_not_written() -> None:
    producers = Producers()
    writer = GroupCommit(producers)
    await writer.start()
    kept = writer.enqueue(pair(1))
    dropped = writer.enqueue(pair(2))
    dropped.cancel()
    await kept
    await writer.stop()
    assert producers.committed == [pair(1)]
