"""Fakes for tests and benchmarks that must not need a registry process."""

from __future__ import annotations

from typing import Any

import orjson
from fastavro import parse_schema

from agentmesh.contracts._errors import UnknownSchemaIdError

__all__ = ["InMemorySchemaRegistry"]


class InMemorySchemaRegistry:
    """A schema store in a dict: same ids for the same schema, no compatibility rules.

    It never stands in for a claim about the registry's behaviour; integration tests use the
    real one.
    """

    def __init__(self) -> None:
        self._ids: dict[bytes, int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
        self.subjects: dict[str, list[int]] = {}

    async def register(
        self, subject: str, schema: dict[str, Any], compatibility: str = "BACKWARD_TRANSITIVE"
    ) -> int:
        canonical = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        schema_id = self._ids.setdefault(canonical, len(self._ids) + 1)
        self._schemas[schema_id] = schema
        versions = self.subjects.setdefault(subject, [])
        if schema_id not in versions:
            versions.append(schema_id)
        return schema_id

    async def parsed_schema(self, schema_id: int) -> Any:
        try:
            return parse_schema(self._schemas[schema_id])
        except KeyError:
            raise UnknownSchemaIdError(f"schema id {schema_id} is not registered") from None

    async def close(self) -> None:
        return None
