"""The notebook service: ``Notebook(store, files)`` and one service per area."""
