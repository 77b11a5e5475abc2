"""Papers, their triage and the weekly target."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from labbook.store.sql.db import Database

if TYPE_CHECKING:  # the records load with the first paper read, not with every notebook
    from labbook.records.papers import Paper

_COLUMNS = (
    "id, uid, title, authors, year, venue, doi, arxiv, url, abstract, citekey, entry_type, source,"
    " added_at, decision, output_kind, changes, triaged_at"
)
#: Fields an import may fill in on a paper already here (never overwriting what it has).
FILLABLE = ("authors", "year", "venue", "doi", "arxiv", "url", "abstract", "citekey", "entry_type")


def _paper(row: tuple[Any, ...]) -> Paper:
    fields = list(row)
    fields[3] = tuple(json.loads(fields[3] or "[]"))
    from labbook.records.papers import Paper

    return Paper(*fields)


def _keep_keys(c: Any, paper_id: int, keys: Iterable[str | None]) -> None:
    c.executemany(
        "INSERT INTO paper_citekeys (paper_id, key) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(paper_id, k) for k in keys if k],
    )


class SqlPapers:
    """``PapersStore`` over a ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def paper_keys(self) -> list[tuple[int, str | None, str | None, str]]:
        """(id, doi, arxiv, normalised title) of every paper: what duplicates are found by."""
        return [tuple(r) for r in self.db.read("SELECT id, doi, arxiv, norm_title FROM papers ORDER BY id")]

    def save_papers(
        self,
        new: list[dict[str, Any]],
        fills: dict[int, dict[str, Any]],
        keys: dict[int, list[str]] | None = None,
    ) -> list[int]:
        """Insert ``new`` papers and fill in missing fields of others, in one transaction.

        Every citation key is kept in ``paper_citekeys``: a new paper's ``citekeys`` (or its
        ``citekey``), and ``keys`` for papers already here that were imported again under
        another key, so a lookup by any of them finds the paper.
        """
        ids = []
        with self.db.tx() as c:
            for paper_id, values in fills.items():
                for name, value in values.items():
                    assert name in FILLABLE
                    empty = "'[]'" if name == "authors" else "NULL"
                    c.execute(
                        f"UPDATE papers SET {name} = ? WHERE id = ? AND ({name} IS NULL OR {name} = {empty})",
                        (json.dumps(value) if name == "authors" else value, paper_id),
                    )
            for p in new:
                (paper_id,) = c.execute(
                    "INSERT INTO papers (uid, title, norm_title, authors, year, venue, doi, arxiv, url, abstract,"
                    " citekey, entry_type, source, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " RETURNING id",
                    (
                        p["uid"],
                        p["title"],
                        p["norm_title"],
                        json.dumps(p["authors"]),
                        p["year"],
                        p["venue"],
                        p["doi"],
                        p["arxiv"],
                        p["url"],
                        p["abstract"],
                        p["citekey"],
                        p["entry_type"],
                        p["source"],
                        p["added_at"],
                    ),
                ).fetchone()
                ids.append(int(paper_id))
                _keep_keys(c, ids[-1], p.get("citekeys") or [p["citekey"]])
            for paper_id, more in (keys or {}).items():
                _keep_keys(c, paper_id, more)
        return ids

    def paper_citekeys(self, paper_id: int) -> list[str]:
        """Every citation key the paper was imported under, the one it shows first."""
        rows = self.db.read(
            "SELECT k.key FROM paper_citekeys k JOIN papers p ON p.id = k.paper_id WHERE k.paper_id = ?"
            " ORDER BY k.key IS DISTINCT FROM p.citekey, k.key",
            (paper_id,),
        )
        return [r[0] for r in rows]

    def get_paper(self, paper_id: int) -> Paper | None:
        rows = self.db.read(f"SELECT {_COLUMNS} FROM papers WHERE id = ?", (paper_id,))
        return _paper(rows[0]) if rows else None

    def find_papers(self, text: str) -> list[int]:
        """Papers named by any of their citation keys, their DOI or their arXiv id."""
        rows = self.db.read(
            "SELECT id FROM papers WHERE citekey = ? OR doi = lower(?) OR arxiv = ?"
            " UNION SELECT paper_id FROM paper_citekeys WHERE key = ? ORDER BY 1",
            (text, text, text, text),
        )
        return [r[0] for r in rows]

    def list_papers(
        self, status: str | None = None, triaged_since: float | None = None, limit: int | None = None
    ) -> list[Paper]:
        where: list[str] = []
        params: list[Any] = []
        if status == "untriaged":
            where.append("decision IS NULL")
        elif status is not None:
            where.append("decision = ?")
            params.append(status)
        if triaged_since is not None:
            where.append("triaged_at >= ?")
            params.append(triaged_since)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        order = "triaged_at, id" if triaged_since is not None else "id"
        sql = f"SELECT {_COLUMNS} FROM papers {clause} ORDER BY {order}"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_paper(r) for r in self.db.read(sql, params)]

    def count_papers(self) -> dict[str, int]:
        rows = self.db.read("SELECT coalesce(decision, 'untriaged'), count(*) FROM papers GROUP BY 1")
        return {k: n for k, n in rows}

    def count_triaged(self, since: float, until: float) -> int:
        rows = self.db.read(
            "SELECT count(*) FROM papers WHERE triaged_at >= ? AND triaged_at < ?", (since, until)
        )
        return int(rows[0][0])

    def triage_paper(
        self, paper_id: int, decision: str, kind: str | None, changes: str | None, at: float
    ) -> None:
        with self.db.tx() as c:
            c.execute(
                "UPDATE papers SET decision = ?, output_kind = ?, changes = ?, triaged_at = ? WHERE id = ?",
                (decision, kind, changes, at, paper_id),
            )

    def paper_setting(self, key: str) -> str | None:
        rows = self.db.read("SELECT value FROM paper_settings WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_paper_setting(self, key: str, value: str) -> None:
        with self.db.tx() as c:
            c.execute(
                "INSERT INTO paper_settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
