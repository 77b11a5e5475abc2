"""Papers and the vocabularies of their triage."""

from __future__ import annotations

from dataclasses import dataclass

DECISIONS = ("drop", "skim", "read", "deep-read")
#: What kind of output a paper is; the short names are what `--kind` takes.
OUTPUT_KINDS = {
    "foundation-model": "new foundation model",
    "recipe": "training or fine-tuning recipe",
    "benchmark": "benchmark or evaluation method",
    "agent": "agent or harness pattern",
    "optimisation": "optimisation theory",
    "math": "mathematical foundation",
    "scaling": "scaling-law study",
    "other": "other",
}
CHANGES = ("yes", "sometimes", "no")


@dataclass(frozen=True)
class Paper:
    id: int
    uid: str
    title: str
    authors: tuple[str, ...]
    year: int | None
    venue: str | None
    doi: str | None
    arxiv: str | None
    url: str | None
    abstract: str | None
    citekey: str | None
    entry_type: str | None
    source: str
    added_at: float
    decision: str | None
    output_kind: str | None
    changes: str | None
    triaged_at: float | None

    @property
    def ref(self) -> str:
        return f"R{self.id}"

    @property
    def status(self) -> str:
        return self.decision or "untriaged"
