"""Replaying what the mesh did, for debugging: topic slices copied into a sandbox namespace."""

from agentmesh.core.replay._slice import (
    SliceError,
    SliceReport,
    SliceSpec,
    copy_slice,
    parse_offsets,
)

__all__ = ["SliceError", "SliceReport", "SliceSpec", "copy_slice", "parse_offsets"]
