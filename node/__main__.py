"""``python -m node``: the accord command line."""

from node.cli.main import main

# Guarded: a worker process started with 'spawn' imports this module again (node/sync/prepare_pool.py).
if __name__ == "__main__":
    main()
