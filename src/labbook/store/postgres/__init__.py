"""The team server's store: PostgreSQL through psycopg 3 (``pip install 'labbook[server]'``).

``PostgresStore(url)`` builds the shared repositories of ``store/sql`` over one
connection (``connection.Database``); ``schema`` and ``migrations`` are its own, and
``dialect`` its query compiler and text search.
"""
