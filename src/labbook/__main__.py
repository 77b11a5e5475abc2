"""``python -m labbook`` is ``lab``."""

from .cli import main

main()
