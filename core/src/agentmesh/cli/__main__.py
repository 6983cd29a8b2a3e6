"""``python -m agentmesh.cli`` runs the command line (as the ``agentmesh`` script does)."""

from agentmesh.cli import main

main()
