"""The research mesh's local search tool: the bundled corpus and its BM25 ranking."""

from collections import Counter

import pytest

from agentmesh_examples.research import SearchArgs, SearchHit, SearchResult, search
from agentmesh_examples.research._search import corpus, tokenize


def test_the_corpus_has_six_passages_on_each_of_five_topics_with_unique_ids() -> None:
    passages = corpus().passages
    assert Counter(p.topic for p in passages) == {
        "kafka": 6,
        "schemas": 6,
        "resilience": 6,
        "agents": 6,
        "honeybees": 6,
    }
    assert len({p.id for p in passages}) == len(passages)


def test_tokenize_drops_stop_words_and_one_letter_tokens_and_folds_plurals() -> None:
    assert tokenize("The Circuit Breakers' retries, Kafka's logs and a 3 x status") == [
        "circuit",
        "breaker",
        "retry",
        "kafka",
        "log",
        "status",
    ]


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("waggle dance direction of food", "waggle-dance"),
        ("circuit breaker half-open probe", "circuit-breaker"),
        ("Kafka transactions: what is known?", "kafka-transactions"),
        ("idempotency keys for retries", "idempotency-keys"),
        ("backward compatible schema change with a default", "schema-backward-compatibility"),
        ("versioning prompts by a hash", "prompt-versioning"),
    ],
)
async def test_the_relevant_passage_ranks_first(query: str, best: str) -> None:
    result = await search(SearchArgs(query=query))
    assert result.hits[0].id == best


async def test_hits_are_the_best_first_with_their_passages_and_scores() -> None:
    result = await search(SearchArgs(query="Kafka transactions: what is known?"))
    by_id = {p.id: p for p in corpus().passages}
    assert result == SearchResult(
        hits=[
            SearchHit(id=i, title=by_id[i].title, text=by_id[i].text, score=score)
            for i, score in [
                ("kafka-transactions", 6.8307),
                ("kafka-keys-ordering", 2.2779),
                ("kafka-log", 2.1359),
            ]
        ]
    )


async def test_search_is_deterministic_and_honours_the_limit() -> None:
    first = await search(SearchArgs(query="consumer partitions offsets", limit=5))
    again = await search(SearchArgs(query="consumer partitions offsets", limit=5))
    assert (len(first.hits), first) == (5, again)


async def test_a_query_with_no_corpus_word_finds_nothing() -> None:
    assert await search(SearchArgs(query="quantum chromodynamics")) == SearchResult(hits=[])
