"""Confluent's wire format: magic byte 0, 4-byte big-endian schema id, Avro binary body."""

from __future__ import annotations

import struct
from typing import Final

from agentmesh.contracts._errors import TruncatedMessageError, UnknownMagicByteError

__all__ = ["HEADER_SIZE", "MAGIC_BYTE", "frame_header", "read_header"]

MAGIC_BYTE: Final = 0
_HEADER = struct.Struct(">bI")
HEADER_SIZE: Final = _HEADER.size


def frame_header(schema_id: int) -> bytes:
    """The 5 bytes that precede an Avro body written with schema ``schema_id``."""
    return _HEADER.pack(MAGIC_BYTE, schema_id)


def read_header(data: bytes) -> int:
    """The schema id of a framed message, or a specific error saying why there is none."""
    if len(data) < HEADER_SIZE:
        raise TruncatedMessageError(
            f"message is {len(data)} bytes, shorter than the 5-byte Confluent header"
        )
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise UnknownMagicByteError(
            f"first byte is {data[0]:#04x}, not the Confluent wire format's magic byte 0x00 "
            "(the message was not written by a schema-registry serializer)"
        )
    return int(schema_id)
