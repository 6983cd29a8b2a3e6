"""`agentmesh tail` and `review` without a broker: --since, event streams, the gateway
client's errors and resumption, topic names, record JSON, the review fold, bad flags."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from agentmesh.cli import app
from agentmesh.cli._gateway_client import (
    EventStreamParser,
    GatewayClient,
    GatewayError,
    GatewayUnreachable,
    SseEvent,
    explain_status,
)
from agentmesh.cli._tail import _start, describe_record
from agentmesh.contracts import (
    AuditRecord,
    Codec,
    ControlCommand,
    DeadLetter,
    ReviewDecision,
    ReviewRequest,
    shown_sha256,
)
from agentmesh.contracts.testing import InMemorySchemaRegistry
from agentmesh.core import get_settings
from agentmesh.core.views import fold_reviews
from agentmesh.core.views._tail import TailRecord, _Decoder, parse_since, resolve_topic

runner = CliRunner()
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENTMESH_HOME", str(tmp_path / "home"))
    for var in ("AGENTMESH_GATEWAY_URL", "AGENTMESH_GATEWAY_TOKEN", "AGENTMESH_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()


# --since


@pytest.mark.parametrize(
    ("text", "ago"),
    [
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("3d", timedelta(days=3)),
        ("1w", timedelta(weeks=1)),
        ("1.5h", timedelta(minutes=90)),
        ("500ms", timedelta(milliseconds=500)),
        ("2H", timedelta(hours=2)),
        (" 1h 5m ", timedelta(hours=1, minutes=5)),
    ],
)
def test_since_takes_durations_ago(text: str, ago: timedelta) -> None:
    assert parse_since(text, NOW) == NOW - ago


def test_since_takes_iso_times_in_their_zone_or_local() -> None:
    assert parse_since("2025-01-31T14:00:00Z") == datetime(2025, 1, 31, 14, tzinfo=UTC)
    assert parse_since("2025-01-31T14:00:00+02:00") == datetime(2025, 1, 31, 12, tzinfo=UTC)
    local = datetime(2025, 1, 31, 14, 0).astimezone()
    assert parse_since("2025-01-31 14:00") == local.astimezone(UTC)
    assert parse_since("2025-01-31") == datetime(2025, 1, 31).astimezone().astimezone(UTC)
    assert parse_since("2025-01-31T14:00:00Z").tzinfo is UTC


@pytest.mark.parametrize("text", ["", "10", "5x", "m10", "yesterday", "10m ago", "-5m"])
def test_since_refuses_anything_else_and_shows_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"neither a duration .* nor an ISO 8601 time"):
        parse_since(text, NOW)


def test_where_tail_starts() -> None:
    assert _start(None, follow=False, from_beginning=False) == "beginning"
    assert _start(None, follow=True, from_beginning=False) == "end"
    assert _start(None, follow=True, from_beginning=True) == "beginning"
    assert isinstance(_start("5m", follow=True, from_beginning=False), datetime)


# text/event-stream


def _parse(text: str) -> list[SseEvent]:
    parser = EventStreamParser()
    events = []
    for line in text.splitlines():
        event = parser.feed(line)
        if event is not None:
            events.append(event)
    return events


def test_event_stream_as_sse_starlette_writes_it() -> None:
    stream = (
        "event: review_released\r\n"
        'data: {"a": 1}\r\n'
        "id: 0:12,1:3\r\n"
        "\r\n"
        ": ping - 2025-03-01 12:00:00.000000+00:00\r\n"
        "\r\n"
        "event: review_rejected\r\n"
        "data: {}\r\n"
        "id: 0:13,1:3\r\n"
        "\r\n"
    )
    assert _parse(stream) == [
        SseEvent("review_released", '{"a": 1}', "0:12,1:3"),
        SseEvent("review_rejected", "{}", "0:13,1:3"),
    ]


def test_event_stream_rules() -> None:
    stream = (
        "\ufeffdata: first\n"  # a byte-order mark is dropped
        "data:second line\n"  # no space after the colon
        "data:  two spaces\n"  # only one space is removed
        "\n"
        "id: 7\n"
        "retry: 2500\n"
        "event: named\n"
        "\n"  # no data: nothing is dispatched, but the id is kept
        "data\n"  # a field name alone is an empty value
        "\n"
        "unknown: field\n"
        "data: x\n"
        "id\n"  # an empty id resets it
        "\n"
        "data: never finished"  # no blank line: not dispatched
    )
    parser = EventStreamParser()
    events = [e for e in (parser.feed(line) for line in stream.split("\n")) if e is not None]
    assert events == [
        SseEvent("message", "first\nsecond line\n two spaces", None),
        SseEvent("message", "", "7"),
        SseEvent("message", "x", None),
    ]
    assert parser.retry_ms == 2500


# The gateway client: errors in words, streams resumed


def test_http_errors_are_said_in_words() -> None:
    url = "http://gw:8080"
    body = orjson.dumps({"error": "rita may not do this (needs role: auditor)"})
    assert "needs a token" in explain_status(401, b"{}", url, had_token=False)
    assert "does not accept this token" in explain_status(401, b"{}", url, had_token=True)
    forbidden = explain_status(403, body, url, had_token=True)
    assert "needs role: auditor" in forbidden
    assert "403" in forbidden
    conflict = orjson.dumps({"error": "review r1 was released already"})
    assert explain_status(409, conflict, url, had_token=True) == (
        "refused: review r1 was released already (409 conflict)"
    )
    field = orjson.dumps({"error": "bad", "field": "edited_payload"})
    assert "field edited_payload" in explain_status(422, field, url, had_token=True)
    assert "/readyz" in explain_status(503, b"{}", url, had_token=True)
    assert "Bad Gateway" in explain_status(502, b"<h1>Bad Gateway</h1>", url, had_token=True)


async def test_a_refused_call_raises_with_its_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer tok"
        return httpx.Response(409, json={"error": "rita decided review r1 already"})

    async with GatewayClient("http://gw", "tok", transport=httpx.MockTransport(handler)) as gw:
        with pytest.raises(GatewayError, match="decided review r1 already") as caught:
            await gw.call("POST", "/v1/reviews/r1/decisions", json={})
    assert caught.value.status == 409


async def test_a_follow_resumes_from_the_last_event_id_after_a_lost_connection() -> None:
    seen_ids: list[str | None] = []

    class Broken(httpx.AsyncByteStream):
        def __init__(self, chunks: list[bytes], fail: bool) -> None:
            self.chunks, self.fail = chunks, fail

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for chunk in self.chunks:
                yield chunk
            if self.fail:
                raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        last = request.headers.get("last-event-id")
        seen_ids.append(last)
        if last is None:
            chunks = [b"event: a\ndata: 1\nid: 0:1\n\n", b"event: a\ndata: 2\nid: 0:2\n\n"]
            return httpx.Response(200, stream=Broken(chunks, fail=True))
        return httpx.Response(200, stream=Broken([b"event: a\ndata: 3\nid: 0:3\n\n"], False))

    lost: list[tuple[str, str | None]] = []
    got: list[str] = []
    async with GatewayClient("http://gw", None, transport=httpx.MockTransport(handler)) as gw:
        gw.reconnect_delay_s = 0.01
        async for event in gw.follow("/v1/audit/stream", on_reconnect=lambda *a: lost.append(a)):
            got.append(event.data)
            if len(got) == 3:
                break
    assert got == ["1", "2", "3"]
    assert seen_ids == [None, "0:2"]
    assert lost[0][1] == "0:2"
    assert "cannot reach the gateway" in lost[0][0]


async def test_a_gateway_that_is_not_there_fails_at_once() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with GatewayClient("http://gw", None, transport=httpx.MockTransport(handler)) as gw:
        with pytest.raises(GatewayUnreachable, match="agentmesh run gateway"):
            async for _ in gw.follow("/v1/audit/stream"):
                pass


# Topics and records


def test_topic_names_short_and_long() -> None:
    assert resolve_topic("ns", "events").topic == "ns.events"
    assert resolve_topic("ns", "audit").model is AuditRecord
    assert resolve_topic("ns", "dlq").model is DeadLetter
    assert resolve_topic("ns", "ns.dlq").model is DeadLetter
    assert resolve_topic("ns", "review.requests").model is ReviewRequest
    assert resolve_topic("ns", "ns.review.decisions").model is ReviewDecision
    assert resolve_topic("ns", "control").model is ControlCommand
    other = resolve_topic("ns", "ns.agent.payer")
    assert (other.topic, other.name, other.model) == ("ns.agent.payer", "topic", None)


async def test_any_topic_is_decoded_with_its_writer_schema_else_as_json_else_bytes() -> None:
    registry = InMemorySchemaRegistry()
    codec = Codec(ControlCommand, "other-value", registry)
    await codec.register()
    command = ControlCommand(scope="agent", target="a", action="pause", reason="r", issued_by="me")
    decoder = _Decoder(resolve_topic("ns", "other"), registry)
    value, schema_id, raw, error = await decoder.decode(codec.encode(command))
    assert isinstance(value, dict)
    assert (value["target"], schema_id, raw, error) == ("a", codec.schema_id, None, None)
    assert await decoder.decode(b'{"steps": 3}') == ({"steps": 3}, None, None, None)
    value, _, raw, error = await decoder.decode(b"\x07garbage")
    assert (value, raw) == (None, b"\x07garbage")
    assert error is not None
    assert "magic byte" in error
    # A contract topic holding something else: shown, with why it is not the contract.
    audit = _Decoder(resolve_topic("ns", "audit"), registry)
    value, _, _, error = await audit.decode(codec.encode(command))
    assert isinstance(value, dict)
    assert error is not None
    assert "not a valid AuditRecord" in error


def _request(**kw: object) -> ReviewRequest:
    fields: dict[str, object] = {
        "review_id": "r1",
        "task_id": "t1",
        "agent": "payer",
        "kind": "tool_call",
        "reason": "big refund",
        "target_topic": "ns.agent.payer",
        "parked_value": b"\x00\x00\x00\x00\x07\xff",
        "payload_json": '{"amount": 150}',
    }
    return ReviewRequest.model_validate({**fields, **kw})


def test_record_json_keeps_bytes_as_base64_and_raw_values_as_hex() -> None:
    record = TailRecord("ns.review.requests", 2, 41, NOW, "t1", _request())
    data = orjson.loads(orjson.dumps(record.as_json()))
    assert (data["partition"], data["offset"], data["key"]) == (2, 41, "t1")
    assert data["value"]["parked_value"] == "AAAAAAf/"
    raw = TailRecord("x", 0, 1, NOW, None, None, raw=b"\xde\xad", error="not framed")
    assert raw.as_json()["value_hex"] == "dead"
    assert raw.as_json()["value_bytes"] == 2


def test_which_task_a_record_is_about() -> None:
    cancel = ControlCommand(scope="task", target="t9", action="cancel", reason="x", issued_by="a")
    pause = ControlCommand(scope="agent", target="t9", action="pause", reason="x", issued_by="a")
    assert TailRecord("c", 0, 0, None, "task:t9", cancel).is_about("t9")
    assert not TailRecord("c", 0, 0, None, "agent:t9", pause).is_about("t9")
    assert TailRecord("x", 0, 0, None, "k", {"task_id": "t9"}).is_about("t9")
    assert TailRecord("x", 0, 0, None, "t9", None, raw=b"1").is_about("t9")
    assert not TailRecord("x", 0, 0, None, "t9", {"task_id": "t8"}).is_about("t9")


def test_a_record_in_one_line() -> None:
    audit = AuditRecord(
        chain="0",
        seq=3,
        prev_sha256="0" * 64,
        sha256="1" * 64,
        actor="supervisor",
        decision="review_released",
        task_id="t1",
        subject="r1",
        details_json='{"reviewers": ["alice"], "edited": false}',
    )
    line = describe_record(TailRecord("ns.audit", 0, 3, None, None, audit)).plain
    assert "review_released" in line
    assert 'reviewers=["alice"]' in line
    raw = describe_record(TailRecord("t", 0, 5, NOW, None, None, raw=b"\x01\x02", error="e"))
    assert "2 bytes 0102" in raw.plain


# The review queue


def _decision(reviewer: str, decision: str = "approve", review_id: str = "r1") -> ReviewDecision:
    return ReviewDecision.model_validate(
        {
            "review_id": review_id,
            "task_id": "t1",
            "decision": decision,
            "reviewer": reviewer,
            "reason": "ok",
            "shown_sha256": "0" * 64,
        }
    )


def _outcome(decision: str, subject: str = "r1") -> AuditRecord:
    return AuditRecord.model_validate(
        {
            "chain": "0",
            "seq": 0,
            "prev_sha256": "0" * 64,
            "sha256": "1" * 64,
            "actor": "supervisor",
            "decision": decision,
            "task_id": "t1",
            "subject": subject,
            "details_json": "{}",
        }
    )


def test_the_review_queue_fold() -> None:
    escalated = _request(escalations=1, reason="big refund (escalated)")
    items = fold_reviews(
        [_request(), _request(review_id="r2"), escalated],
        [_decision("alice"), _decision("bob", "reject"), _decision("x", review_id="gone")],
        [_outcome("review_released"), _outcome("review_requested", "r2")],
    )
    assert set(items) == {"r1", "r2"}
    r1 = items["r1"].as_json()
    assert (r1["status"], r1["approvals"], r1["escalations"]) == ("released", ["alice"], 1)
    assert r1["shown_sha256"] == shown_sha256(escalated)
    assert items["r2"].status == "pending"


# Flags refused before anything is contacted


def test_since_and_from_beginning_together_are_refused() -> None:
    result = runner.invoke(app, ["tail", "audit", "--since", "5m", "--from-beginning"])
    assert result.exit_code == 2
    assert "not both" in result.output


def test_a_bad_since_is_refused() -> None:
    result = runner.invoke(app, ["tail", "audit", "--since", "soon"])
    assert result.exit_code == 2
    assert "neither a duration" in result.output


def test_events_over_the_gateway_need_a_task() -> None:
    result = runner.invoke(app, ["tail", "events", "--gateway", "http://127.0.0.1:9", "--json"])
    assert result.exit_code == 1
    assert "give --task ID" in orjson.loads(result.stdout)["error"]


def test_other_topics_are_not_on_the_gateway() -> None:
    result = runner.invoke(app, ["tail", "dlq", "--gateway", "http://127.0.0.1:9", "--json"])
    assert result.exit_code == 1
    assert "leave out --gateway" in orjson.loads(result.stdout)["error"]


def test_an_edit_must_be_a_json_object() -> None:
    result = runner.invoke(app, ["review", "approve", "r1", "--reason", "ok", "--edit", "[1]"])
    assert result.exit_code == 2
    assert "JSON object" in result.output


def test_by_is_the_tokens_name_over_the_gateway() -> None:
    args = ["review", "reject", "r1", "--reason", "no", "--by", "me", "--gateway", "http://gw"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "token's name" in result.output
