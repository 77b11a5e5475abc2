"""Notebook settings: JSON values under dotted keys."""

from __future__ import annotations

import json
import time
from typing import Any

from labbook.store.sql.db import Database


class SqlSettings:
    """``SettingsStore`` over a ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get_setting(self, key: str) -> Any | None:
        rows = self.db.read("SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def set_setting(self, key: str, value: Any) -> None:
        with self.db.tx() as c:
            c.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, json.dumps(value), time.time()),
            )

    def unset_setting(self, key: str) -> bool:
        with self.db.tx() as c:
            return c.execute("DELETE FROM settings WHERE key = ?", (key,)).rowcount > 0

    def settings(self, prefix: str = "") -> dict[str, Any]:
        """Every setting whose key starts with ``prefix``, in key order."""
        rows = self.db.read(
            "SELECT key, value FROM settings WHERE substr(key, 1, ?) = ? ORDER BY key", (len(prefix), prefix)
        )
        return {k: json.loads(v) for k, v in rows}
