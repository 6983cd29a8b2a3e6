"""The ``agentmesh`` command-line interface."""

from agentmesh.cli._app import app, main

__all__ = ["app", "main"]
