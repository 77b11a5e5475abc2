"""The embedded SQLite store: connection, one module of SQL per area, migrations."""
