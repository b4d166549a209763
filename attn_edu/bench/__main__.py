"""``python -m attn_edu.bench``: see :mod:`attn_edu.bench` and ``--help``."""

from .cli import main

main()
