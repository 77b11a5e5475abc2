"""``python -m labbook`` is ``lab``."""

from labbook.cli import main

main()
