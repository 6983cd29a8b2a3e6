"""The schema registry as agentmesh uses it: register once, look up by id once, then cache."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import orjson
from confluent_kafka.schema_registry import AsyncSchemaRegistryClient, Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro import parse_schema

from agentmesh.contracts._errors import (
    RegistryUnavailableError,
    SchemaRegistrationError,
    UnknownSchemaIdError,
)

__all__ = ["DEFAULT_COMPATIBILITY", "SchemaRegistry", "SchemaStore"]

DEFAULT_COMPATIBILITY = "BACKWARD_TRANSITIVE"
_SCHEMA_NOT_FOUND = 40403


class SchemaStore(Protocol):
    """What codecs need from a registry (the real one, or the in-memory fake in testing)."""

    async def register(
        self, subject: str, schema: dict[str, Any], compatibility: str = ...
    ) -> int: ...

    async def parsed_schema(self, schema_id: int) -> Any: ...

    async def close(self) -> None: ...


class SchemaRegistry:
    """An async Confluent-API registry client with the caches the hot path needs.

    After the first lookup of a schema id, decoding never calls the registry again; after
    the first registration of a schema, encoding never does either.
    """

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self._client = AsyncSchemaRegistryClient(
            {"url": url, "timeout": timeout_s, "max.retries": 2}
        )
        self._parsed: dict[int, Any] = {}
        self._registered: dict[tuple[str, bytes], int] = {}
        self._lock = asyncio.Lock()

    async def register(
        self, subject: str, schema: dict[str, Any], compatibility: str = DEFAULT_COMPATIBILITY
    ) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and pin the subject's rule."""
        canonical = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        cached = self._registered.get((subject, canonical))
        if cached is not None:
            return cached
        try:
            schema_id = await self._client.register_schema(
                subject, Schema(canonical.decode(), "AVRO")
            )
            await self._pin_compatibility(subject, compatibility)
        except SchemaRegistryError as exc:
            raise SchemaRegistrationError(
                f"the registry refused the schema for subject '{subject}': {exc.error_message} "
                f"(HTTP {exc.http_status_code}). If it is incompatible with an earlier version, "
                "run `agentmesh contracts check` to see which field breaks compatibility."
            ) from exc
        except Exception as exc:
            raise self._unavailable(exc) from exc
        self._registered[(subject, canonical)] = schema_id
        self._parsed.setdefault(schema_id, parse_schema(schema))
        return int(schema_id)

    async def _pin_compatibility(self, subject: str, compatibility: str) -> None:
        try:
            await self._client.set_compatibility(subject, compatibility)
        except SchemaRegistryError as exc:
            # Apicurio answers 409 "rule already exists" where Confluent would update in
            # place; that is success when the rule already says what we want.
            if exc.http_status_code != 409:
                raise
            current = await self._client.get_compatibility(subject)
            if str(current).upper() != compatibility.upper():
                raise

    async def parsed_schema(self, schema_id: int) -> Any:
        """The fastavro-parsed writer schema with this id (fetched once, then cached)."""
        parsed = self._parsed.get(schema_id)
        if parsed is not None:
            return parsed
        async with self._lock:
            if schema_id not in self._parsed:
                self._parsed[schema_id] = parse_schema(await self.fetch(schema_id))
        return self._parsed[schema_id]

    async def fetch(self, schema_id: int) -> dict[str, Any]:
        """The schema with this id as a dict (uncached)."""
        try:
            schema = await self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404 or exc.error_code == _SCHEMA_NOT_FOUND:
                raise UnknownSchemaIdError(
                    f"schema id {schema_id} is not in the registry at {self.url} (was the "
                    "message written against another registry, or the registry reset?)"
                ) from exc
            raise self._unavailable(exc) from exc
        except Exception as exc:
            raise self._unavailable(exc) from exc
        result: dict[str, Any] = orjson.loads(schema.schema_str or "null")
        return result

    async def ping(self) -> None:
        """Raise :class:`RegistryUnavailableError` unless the registry answers.

        Asks for the schema types it supports: an answer of constant size. Listing subjects
        grows with the registry (one mesh registers a dozen per namespace) and took seconds on
        a long-lived local registry under load, long enough to call it down.
        """
        try:
            await self._client.get_schema_types()
        except Exception as exc:
            raise self._unavailable(exc) from exc

    async def subjects(self) -> list[str]:
        """Every subject the registry holds."""
        try:
            return list(await self._client.get_subjects())
        except Exception as exc:
            raise self._unavailable(exc) from exc

    async def latest(self, subject: str) -> tuple[int, dict[str, Any]] | None:
        """The id and schema of ``subject``'s newest version; None if there is no such subject."""
        try:
            registered = await self._client.get_latest_version(subject)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return None
            raise self._unavailable(exc) from exc
        except Exception as exc:
            raise self._unavailable(exc) from exc
        schema = registered.schema
        text = schema.schema_str if schema is not None else None
        return int(registered.schema_id or 0), orjson.loads(text or "null")

    async def close(self) -> None:
        """Release the HTTP connections."""
        await self._client.aclose()

    def _unavailable(self, exc: Exception) -> RegistryUnavailableError:
        return RegistryUnavailableError(
            f"schema registry at {self.url} is unavailable ({type(exc).__name__}: {exc}); "
            "check AGENTMESH_SCHEMA_REGISTRY_URL or start it with `agentmesh infra up`"
        )
