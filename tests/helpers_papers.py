"""Shared by the papers, problems and plan tests: fixture paths and a snapshot of what is stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

FIX = Path(__file__).parent / "fixtures" / "papers"
TABLES = (
    "papers",
    "paper_citekeys",
    "paper_settings",
    "predictions",
    "resolutions",
    "hypotheses",
    "problems",
    "problem_links",
    "problem_matches",
    "ideas",
    "idea_ratings",
    "tasks",
)


def stored(project: Path) -> dict[str, object]:
    """Every row of the tables these features write, to show that a refused command wrote nothing."""
    conn = sqlite3.connect(project / ".labbook" / "labbook.db")
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
    finally:
        conn.close()
