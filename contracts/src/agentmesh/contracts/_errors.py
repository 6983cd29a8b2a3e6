"""Everything that can be wrong with a message, each as its own type that says what and where.

Decode errors carry a short ``stage`` the runtime writes into the dead letter; the registry
being down is *not* a decode error: the message is fine and must be retried, not dead-lettered.
"""

from __future__ import annotations

from pydantic import ValidationError

__all__ = [
    "ContractError",
    "DecodeError",
    "IncompatibleSchemaError",
    "InvalidMessageError",
    "MalformedPayloadError",
    "PayloadValidationError",
    "RegistryUnavailableError",
    "SchemaRegistrationError",
    "TruncatedMessageError",
    "UnknownMagicByteError",
    "UnknownSchemaIdError",
]


class ContractError(Exception):
    """Base class of every contracts error."""


class DecodeError(ContractError):
    """The bytes are not a valid message of the expected type; route them to the dead letters."""

    stage = "decode"


class TruncatedMessageError(DecodeError):
    """Shorter than the 5-byte Confluent header, or the Avro body ends early."""


class UnknownMagicByteError(DecodeError):
    """The first byte is not the wire format's 0: not written by a registry serializer."""


class UnknownSchemaIdError(DecodeError):
    """The registry has no schema with the id in the header."""


class MalformedPayloadError(DecodeError):
    """The Avro body cannot be read with its writer schema (garbage or trailing bytes)."""


class IncompatibleSchemaError(DecodeError):
    """The writer schema cannot be resolved to this reader's schema."""


class InvalidMessageError(DecodeError):
    """Decoded, but the values break the model's rules."""

    stage = "validate"


class RegistryUnavailableError(ContractError):
    """The schema registry did not answer; the message itself may be fine: retry."""


class SchemaRegistrationError(ContractError):
    """The registry refused a schema, usually because it is incompatible with earlier versions."""


class PayloadValidationError(ContractError, ValueError):
    """A payload does not match the receiving agent's input model; raised at the sender.

    ``fields`` lists the dotted paths of the fields at fault.
    """

    def __init__(self, model: str, errors: ValidationError) -> None:
        self.model = model
        self.fields = [".".join(str(p) for p in err["loc"]) or "<root>" for err in errors.errors()]
        details = "; ".join(
            f"field '{'.'.join(str(p) for p in err['loc']) or '<root>'}': {err['msg']}"
            for err in errors.errors()
        )
        super().__init__(f"payload does not match {model}: {details}")
