"""Model <-> bytes for one message type: pydantic converter + fastavro + Confluent framing.

Encoding is synchronous once the schema is registered; decoding awaits the registry only
the first time it meets a schema id. Writer schemas are resolved to this codec's reader
schema, so a consumer on v2 reads v1 data and vice versa.
"""

from __future__ import annotations

import io
from typing import Any, Generic, TypeVar

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from pydantic import ValidationError

from agentmesh.contracts._avro import avro_schema
from agentmesh.contracts._base import Contract
from agentmesh.contracts._datum import to_datum
from agentmesh.contracts._errors import (
    IncompatibleSchemaError,
    InvalidMessageError,
    MalformedPayloadError,
    PayloadValidationError,
    TruncatedMessageError,
)
from agentmesh.contracts._registry import SchemaStore
from agentmesh.contracts._wire import HEADER_SIZE, frame_header, read_header

__all__ = ["Codec", "validate_payload"]

M = TypeVar("M", bound=Contract)


def validate_payload(model: type[M], data: Any) -> M:
    """``data`` as ``model``, or :class:`PayloadValidationError` naming each field at fault."""
    if isinstance(data, model):
        return data
    try:
        if isinstance(data, Contract):
            data = data.model_dump()
        return model.model_validate(data)
    except ValidationError as exc:
        raise PayloadValidationError(model.__name__, exc) from None


class Codec(Generic[M]):
    """Encodes and decodes one model on one registry subject."""

    def __init__(self, model: type[M], subject: str, registry: SchemaStore) -> None:
        self.model = model
        self.subject = subject
        self.registry = registry
        self.schema = avro_schema(model)
        self._parsed = parse_schema(self.schema)
        self._schema_id: int | None = None
        self._header = b""

    @property
    def schema_id(self) -> int:
        """The registered id of this codec's schema (after :meth:`register`)."""
        if self._schema_id is None:
            raise RuntimeError(f"call `await codec.register()` before encoding {self.subject}")
        return self._schema_id

    async def register(self) -> int:
        """Register the schema (idempotent); needed once before :meth:`encode`."""
        if self._schema_id is None:
            self._schema_id = await self.registry.register(self.subject, self.schema)
            self._header = frame_header(self._schema_id)
        return self._schema_id

    def encode(self, message: M) -> bytes:
        """The framed Avro bytes of ``message``."""
        if self._schema_id is None:
            raise RuntimeError(f"call `await codec.register()` before encoding {self.subject}")
        buf = io.BytesIO()
        buf.write(self._header)
        schemaless_writer(buf, self._parsed, to_datum(message))
        return buf.getvalue()

    async def decode(self, data: bytes) -> M:
        """The message in ``data``; a :class:`DecodeError` subclass says what is wrong."""
        schema_id = read_header(data)
        if schema_id == self._schema_id:
            writer, reader = self._parsed, None
        else:
            writer, reader = await self.registry.parsed_schema(schema_id), self._parsed
        datum = _read_body(data, writer, reader, schema_id)
        try:
            return self.model.model_validate(datum)
        except ValidationError as exc:
            raise InvalidMessageError(
                f"message with schema id {schema_id} decoded but is not a valid "
                f"{self.model.__name__}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
            ) from None


def _read_body(data: bytes, writer: Any, reader: Any, schema_id: int) -> Any:
    body = io.BytesIO(data)
    body.seek(HEADER_SIZE)
    try:
        datum = schemaless_reader(body, writer, reader)
    except SchemaResolutionError as exc:
        raise IncompatibleSchemaError(
            f"data written with schema id {schema_id} cannot be read with this reader schema: {exc}"
        ) from None
    except EOFError:
        raise TruncatedMessageError(
            f"Avro body ends early ({len(data)} bytes in all, schema id {schema_id})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - fastavro signals garbage with many error types
        raise MalformedPayloadError(
            f"Avro body is not valid for schema id {schema_id}: {type(exc).__name__}: {exc}"
        ) from None
    if body.tell() != len(data):
        raise MalformedPayloadError(
            f"{len(data) - body.tell()} bytes left over after the Avro body (schema id {schema_id})"
        )
    return datum
