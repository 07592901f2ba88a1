"""``python -m node``: the accord command line."""

from node.cli.main import main

main()
