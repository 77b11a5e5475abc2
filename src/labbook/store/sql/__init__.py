"""The repositories both SQL stores share, one per area, written once over ``db.Database``.

``sqlite/`` and ``postgres/`` each bring a connection, a schema with its migrations, a
query compiler and full-text search (their ``Dialect``); everything else a store does is
here, so the two stores cannot drift apart. ``tests/test_store_contract.py`` runs every
test against both.
"""
