"""What can go wrong when bringing up local infrastructure, each with how to fix it."""

from __future__ import annotations

__all__ = [
    "DownloadFailedError",
    "InfraError",
    "PortBusyError",
    "PrerequisiteMissingError",
    "ServiceFailedError",
]


class InfraError(RuntimeError):
    """Base class: local infrastructure could not be brought up or down."""


class PrerequisiteMissingError(InfraError):
    """A tool the local cluster needs (Java, Maven) is missing or too old."""


class PortBusyError(InfraError):
    """A port the local cluster wants is taken by some other process."""


class DownloadFailedError(InfraError):
    """Maven could not fetch the jars; carries the tail of Maven's output."""


class ServiceFailedError(InfraError):
    """A service exited or never became ready; carries the tail of its log."""
