"""``python -m agentmesh`` runs the CLI."""

from agentmesh.cli import main

main()
