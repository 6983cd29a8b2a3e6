"""The researcher's ``search`` tool: BM25 over the bundled corpus, local and deterministic.

The corpus (``corpus.json``) is a few dozen short passages about Kafka, Avro schemas,
resilience patterns, LLM agents and honeybees. Scoring is Okapi BM25 over lower-cased word
tokens with stop words dropped and plurals folded; ties break by passage id, so the same
query always returns the same hits in the same order.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pydantic import Field

from agentmesh.agents import tool
from agentmesh_examples.research._models import ResearchContract

__all__ = [
    "Passage",
    "SearchArgs",
    "SearchHit",
    "SearchIndex",
    "SearchResult",
    "corpus",
    "search",
    "tokenize",
]

_WORD = re.compile(r"[a-z0-9]+")
_STOP_WORD_LIST = """
    a about after all also an and any are as at be because been before but by can could did
    do does each for from had has have how if in into is it its itself may more most no not
    of on one or other our so such than that the their them then there these they this those
    through to up was we were what when where whether which while who why will with would
    you your
"""
_STOP_WORDS = frozenset(_STOP_WORD_LIST.split())
# Okapi BM25's usual constants: term-frequency saturation and length normalisation.
_K1 = 1.5
_B = 0.75


class Passage(ResearchContract):
    """One corpus passage."""

    id: str
    topic: str
    title: str
    text: str


class SearchArgs(ResearchContract):
    """A keyword query."""

    query: str = Field(min_length=1)
    limit: int = Field(default=3, ge=1, le=10)


class SearchHit(ResearchContract):
    """A passage that matched, with its BM25 score."""

    id: str
    title: str
    text: str
    score: float


class SearchResult(ResearchContract):
    """The best hits first; empty when no query word occurs in the corpus."""

    hits: list[SearchHit]


def tokenize(text: str) -> list[str]:
    """Lower-cased words without stop words, plurals folded ("breakers" -> "breaker")."""
    # One-letter tokens are possessive "s" and list labels, never what a query is about.
    words = _WORD.findall(text.lower())
    return [_fold(w) for w in words if len(w) > 1 and w not in _STOP_WORDS]


def _fold(word: str) -> str:
    # Plural folding is enough for a small English corpus; a real stemmer is not worth a dependency.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@dataclass(frozen=True, slots=True)
class SearchIndex:
    """BM25 statistics of a fixed set of passages (title and text both count)."""

    passages: Sequence[Passage]
    terms: Sequence[Counter[str]]
    idf: dict[str, float]
    avg_length: float

    @classmethod
    def build(cls, passages: Sequence[Passage]) -> SearchIndex:
        terms = [Counter(tokenize(f"{p.title} {p.text}")) for p in passages]
        n = len(passages)
        document_frequency = Counter(t for counts in terms for t in counts)
        idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in document_frequency.items()}
        avg_length = sum(sum(c.values()) for c in terms) / max(n, 1)
        return cls(passages, terms, idf, avg_length)

    def search(self, query: str, limit: int = 3) -> list[SearchHit]:
        """The ``limit`` best passages for ``query``, best first; only those that match."""
        query_terms = set(tokenize(query))
        scored = [
            (self._score(query_terms, counts), passage)
            for passage, counts in zip(self.passages, self.terms, strict=True)
        ]
        ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1].id))
        return [
            SearchHit(id=p.id, title=p.title, text=p.text, score=round(score, 4))
            for score, p in ranked[:limit]
        ]

    def _score(self, query_terms: set[str], counts: Counter[str]) -> float:
        length = sum(counts.values())
        norm = _K1 * (1 - _B + _B * length / self.avg_length)
        return sum(
            self.idf[t] * counts[t] * (_K1 + 1) / (counts[t] + norm)
            for t in query_terms
            if t in counts
        )


@cache
def corpus() -> SearchIndex:
    """The bundled corpus, indexed once per process."""
    raw = resources.files("agentmesh_examples.research").joinpath("corpus.json").read_text("utf-8")
    passages = _CorpusFile.model_validate_json(raw).passages
    return SearchIndex.build(passages)


class _CorpusFile(ResearchContract):
    about: str
    passages: list[Passage]


@tool("search", timeout_s=5.0)
async def search(args: SearchArgs) -> SearchResult:
    """Keyword search (BM25) over the bundled research corpus."""
    return SearchResult(hits=corpus().search(args.query, args.limit))
