"""The Fatebook CSV parser, on files written the way Fatebook's ``lib/web/export.ts`` writes them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from labbook.errors import BadInput
from labbook.formats.fatebook import FatebookForecast, parse

# Fatebook's header today, in its order (export.ts plus the tags column of issue #91).
HEADER = [
    "Question title",
    "Multiple choice option",
    "Forecast created by",
    "Forecast (scale = 0-1)",
    "Forecast created at",
    "Question created by",
    "Question created at",
    "Question resolve by",
    "Resolution",
    "Resolved at",
    "Your Brier score for this question",
    "Your relative Brier score for this question",
    "Question notes",
    "Question shared with",
    "Question shared publicly",
    "Question comments",
    "Question tags",
]


def cell(value: Any) -> str:
    """A value as Fatebook's printForCsv writes it: strings quoted, numbers and dates bare, null empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Date(str):
    """A date cell: written bare, like getDateTimeYYYYMMDDHHMMSS output (a plain str would be quoted)."""


def row(
    title: str = "Will the baseline beat 0.9?",
    p: Any = 0.7,
    at: str = "2025-01-15 03:50:45",
    *,
    by: str | None = "Ada",
    option: str | None = None,
    created: str = "2025-01-10 09:00:00",
    resolve_by: str = "2025-03-01 12:00:00",
    resolution: str | None = None,
    resolved_at: str | None = None,
    notes: str | None = None,
    tags: str | None = None,
    header: list[str] = HEADER,
) -> str:
    values = {
        "Question title": title,
        "Multiple choice option": option,
        "Forecast created by": by,
        "Forecast (scale = 0-1)": p,
        "Forecast created at": Date(at),
        "Question created by": "Ada",
        "Question created at": Date(created),
        "Question resolve by": Date(resolve_by),
        "Resolution": resolution,
        "Resolved at": Date(resolved_at) if resolved_at else None,
        "Your Brier score for this question": 0.09 if resolution else None,
        "Your relative Brier score for this question": None,
        "Question notes": notes,
        "Question shared with": "",
        "Question shared publicly": False,
        "Question comments": "",
        "Question tags": tags,
        # what the export called two of them before multiple-choice questions
        "Question resolution": resolution,
        "Question resolved at": Date(resolved_at) if resolved_at else None,
    }
    by_name = {" ".join(name.lower().split()): value for name, value in values.items()}
    out = []
    for name in header:
        value = by_name.get(" ".join(name.lower().split()), "extra")
        out.append(value if isinstance(value, Date) else cell(value))
    return ",".join(out)


def export(*rows: str, header: list[str] = HEADER) -> str:
    """A whole file: Fatebook joins the header and rows with bare ``\\n`` and adds no final newline."""
    return "\n".join([",".join(header), *rows])


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def only(rows: list[FatebookForecast]) -> FatebookForecast:
    assert len(rows) == 1, rows
    return rows[0]


# -- normal files --------------------------------------------------------------------------------------


def test_a_normal_file_gives_one_forecast_per_question() -> None:
    text = export(
        row(
            "Will the baseline beat 0.9?",
            0.7,
            "2025-01-15 03:50:45",
            resolution="YES",
            resolved_at="2025-02-01 10:00:00",
            notes="seed 0 only",
            tags="vision, baselines",
        ),
        row(
            "Will lr warmup help?",
            0.25,
            "2025-01-16 08:00:00",
            created="2025-01-16 07:59:00",
            resolution="NO",
            resolved_at="2025-02-02 11:30:00",
        ),
    )
    result = parse(text)
    assert result.skipped == []
    assert result.forecasters == ("Ada",)
    first, second = result.rows
    assert first.question == "Will the baseline beat 0.9?"
    assert first.p == 0.7
    assert first.created_at == ts("2025-01-15 03:50:45")
    assert first.outcome == "true"
    assert first.resolved_at == ts("2025-02-01 10:00:00")
    assert first.question_created_at == ts("2025-01-10 09:00:00")
    assert first.resolve_by == ts("2025-03-01 12:00:00")
    assert first.notes == "seed 0 only"
    assert first.tags == ("vision", "baselines")
    assert first.forecaster == "Ada"
    assert first.option is None
    assert first.line == 2
    assert second.question == "Will lr warmup help?"
    assert second.p == 0.25
    assert second.outcome == "false"
    assert second.resolved_at == ts("2025-02-02 11:30:00")
    assert second.notes is None
    assert second.tags == ()
    assert second.line == 3
    assert first.key != second.key
    assert first.key.startswith("fatebook:")


def test_the_last_forecast_before_resolution_is_kept() -> None:
    # Fatebook's rows are in no particular order; the one after resolution must not count.
    text = export(
        row(p=0.6, at="2025-01-20 10:00:00", resolution="YES", resolved_at="2025-02-01 00:00:00"),
        row(p=0.4, at="2025-01-12 10:00:00", resolution="YES", resolved_at="2025-02-01 00:00:00"),
        row(p=0.99, at="2025-02-03 10:00:00", resolution="YES", resolved_at="2025-02-01 00:00:00"),
        row(p=0.5, at="2025-01-15 10:00:00", resolution="YES", resolved_at="2025-02-01 00:00:00"),
    )
    result = parse(text)
    kept = only(result.rows)
    assert kept.p == 0.6
    assert kept.created_at == ts("2025-01-20 10:00:00")
    assert kept.line == 2
    assert result.skipped == []


def test_an_open_question_keeps_its_latest_forecast() -> None:
    text = export(
        row(p=0.3, at="2025-01-12 10:00:00"),
        row(p=0.45, at="2025-01-14 10:00:00"),
        row(p=0.35, at="2025-01-13 10:00:00"),
    )
    kept = only(parse(text).rows)
    assert kept.p == 0.45
    assert kept.outcome is None
    assert kept.resolved_at is None


def test_a_question_forecast_only_after_it_resolved_is_skipped() -> None:
    text = export(
        row(p=0.9, at="2025-02-03 10:00:00", resolution="NO", resolved_at="2025-02-01 00:00:00"),
        row(p=0.8, at="2025-02-02 10:00:00", resolution="NO", resolved_at="2025-02-01 00:00:00"),
    )
    result = parse(text)
    assert result.rows == []
    assert result.skipped == [(3, "every forecast on this question was made after it resolved")]


def test_unresolved_and_ambiguous_questions() -> None:
    text = export(
        row("Open question", 0.2, resolution=None, resolved_at=None),
        row("Ambiguous question", 0.8, resolution="AMBIGUOUS", resolved_at="2025-02-01 00:00:00"),
        row("Lower-case word", 0.1, resolution="no", resolved_at="2025-02-01 00:00:00"),
    )
    open_q, ambiguous, lower = parse(text).rows
    assert (open_q.question, open_q.outcome, open_q.resolved_at) == ("Open question", None, None)
    assert (ambiguous.outcome, ambiguous.resolved_at) == ("ambiguous", ts("2025-02-01 00:00:00"))
    assert lower.outcome == "false"


def test_percent_signs_and_fractions_both_read_as_fractions() -> None:
    text = export(
        row("fraction", "0.7"),
        row("percent", "70%"),
        row("percent with space", "12.5 %"),
        row("tiny, as Decimal.js prints it", "1e-7"),
        row("certain", 1),
    )
    ps = {r.question: r.p for r in parse(text).rows}
    assert ps == {
        "fraction": 0.7,
        "percent": pytest.approx(0.7),
        "percent with space": pytest.approx(0.125),
        "tiny, as Decimal.js prints it": 1e-7,
        "certain": 1.0,
    }


def test_unpadded_seconds_are_read_as_written() -> None:
    # Fatebook writes `${date.getSeconds()}`, so 2 seconds comes out as ":2" (issue #90).
    text = export(row(at="2024-12-09 01:12:2", created="2024-12-09 01:12:0"))
    kept = only(parse(text).rows)
    assert kept.created_at == ts("2024-12-09 01:12:02")
    assert kept.question_created_at == ts("2024-12-09 01:12:00")


def test_iso_dates_with_a_zone_are_honoured() -> None:
    text = export(row(at="2025-01-15T03:50:45+02:00", created="2025-01-10T09:00:00Z"))
    kept = only(parse(text).rows)
    assert kept.created_at == ts("2025-01-15 01:50:45")
    assert kept.question_created_at == ts("2025-01-10 09:00:00")


# -- tolerance -----------------------------------------------------------------------------------------


def test_bom_and_crlf_line_endings() -> None:
    text = export(
        row("first", 0.6, notes="two\r\nlines"),
        row("second", 0.3),
        row("bad", "x"),
    )
    text = "\ufeff" + text.replace("\n", "\r\n").replace("\r\r\n", "\r\n")
    result = parse(text)
    first, second = result.rows
    assert first.question == "first"  # not lost to a BOM glued to the first header name
    assert first.notes == "two\r\nlines"
    assert (second.question, second.p, second.line) == ("second", 0.3, 4)
    assert result.skipped == [(5, "forecast 'x' is not a number")]


def test_quoted_commas_quotes_and_newlines() -> None:
    text = export(
        row('Will "RoPE, scaled" beat ALiBi, at 8k?', 0.55, notes="line one,\nline two\nline three"),
        row("after", 0.1),
        row("broken", "2"),
    )
    result = parse(text)
    first, after = result.rows
    assert first.question == 'Will "RoPE, scaled" beat ALiBi, at 8k?'
    assert first.notes == "line one,\nline two\nline three"
    assert first.line == 2
    assert after.line == 5  # the notes of the row before took lines 2-4
    assert result.skipped == [
        (6, "forecast 2 is outside [0, 1] (the column is on a 0-1 scale; write 70% for a percentage)")
    ]


def test_blank_lines_are_ignored_but_counted() -> None:
    text = export(row("a", 0.1), "", row("b", 0.2), "   ", "", row("c", "nope")) + "\n\n"
    result = parse("\n" + text)
    assert [(r.question, r.line) for r in result.rows] == [("a", 3), ("b", 5)]
    assert result.skipped == [(8, "forecast 'nope' is not a number")]


def test_reordered_extra_and_differently_cased_columns() -> None:
    header = [
        "RESOLVED AT",
        "Tournament name",
        "forecast  (Scale = 0-1)",
        "question TITLE",
        "Resolution",
        "Question created at",
        "Forecast created at",
        "Question tags",
        "Something new",
    ]
    text = export(
        row(
            "reordered",
            0.65,
            "2025-01-15 03:50:45",
            resolution="YES",
            resolved_at="2025-02-01 10:00:00",
            tags="a;b;a",
            header=header,
        ),
        header=header,
    )
    kept = only(parse(text).rows)
    assert kept.question == "reordered"
    assert kept.p == 0.65
    assert kept.created_at == ts("2025-01-15 03:50:45")
    assert kept.outcome == "true"
    assert kept.resolved_at == ts("2025-02-01 10:00:00")
    assert kept.tags == ("a", "b")
    assert kept.forecaster is None  # no "Forecast created by" column
    assert kept.notes is None


def test_exports_from_before_multiple_choice_questions() -> None:
    # The earlier export.ts: "Question resolution" / "Question resolved at", no option or tags column.
    old = [
        "Question title",
        "Forecast created by",
        "Forecast (scale = 0-1)",
        "Forecast created at",
        "Question created by",
        "Question created at",
        "Question resolution",
        "Question resolve by",
        "Question resolved at",
        "Your Brier score for this question",
        "Your relative Brier score for this question",
        "Question notes",
        "Question shared with",
        "Question shared publicly",
        "Question comments",
    ]
    text = export(row(p=0.15, resolution="NO", resolved_at="2025-02-01 10:00:00", header=old), header=old)
    kept = only(parse(text).rows)
    assert kept.p == 0.15
    assert kept.outcome == "false"
    assert kept.resolved_at == ts("2025-02-01 10:00:00")


def test_multiple_choice_options_are_separate_yes_no_questions() -> None:
    text = export(
        row(
            "Which optimiser wins?", 0.6, option="AdamW", resolution="YES", resolved_at="2025-02-01 00:00:00"
        ),
        row("Which optimiser wins?", 0.4, option="Lion", resolution="NO", resolved_at="2025-02-01 00:00:00"),
    )
    adamw, lion = parse(text).rows
    assert (adamw.option, adamw.p, adamw.outcome) == ("AdamW", 0.6, "true")
    assert (lion.option, lion.p, lion.outcome) == ("Lion", 0.4, "false")
    assert adamw.text == "Which optimiser wins? — AdamW"
    assert adamw.key != lion.key


# -- keys ----------------------------------------------------------------------------------------------


def test_the_key_is_the_same_in_a_later_export() -> None:
    before = only(parse(export(row(p=0.5, at="2025-01-12 10:00:00", created="2025-01-10 09:00:05"))).rows)
    later = only(
        parse(
            export(
                row(p=0.5, at="2025-01-12 10:00:00", created="2025-01-10 09:00:5"),
                row(
                    p=0.8,
                    at="2025-01-30 10:00:00",
                    created="2025-01-10 09:00:5",
                    resolution="YES",
                    resolved_at="2025-02-01 00:00:00",
                ),
            )
        ).rows
    )
    assert later.p == 0.8
    assert later.key == before.key
    same_title_new_question = only(parse(export(row(created="2026-01-10 09:00:00"))).rows)
    assert same_title_new_question.key != before.key
    other_person = only(parse(export(row(by="Bob", created="2025-01-10 09:00:05"))).rows)
    assert other_person.key != before.key


# -- whose forecasts -----------------------------------------------------------------------------------


def test_each_forecaster_keeps_their_own_last_forecast() -> None:
    text = export(
        row(p=0.2, at="2025-01-12 10:00:00", by="Ada"),
        row(p=0.9, at="2025-01-13 10:00:00", by="Bob"),
        row(p=0.3, at="2025-01-14 10:00:00", by="Ada"),
    )
    result = parse(text)
    assert [(r.forecaster, r.p) for r in result.rows] == [("Bob", 0.9), ("Ada", 0.3)]
    assert result.forecasters == ("Ada", "Bob")
    assert result.excluded == 0


def test_forecaster_keeps_one_persons_forecasts() -> None:
    text = export(
        row(p=0.2, at="2025-01-12 10:00:00", by="Ada"),
        row(p=0.9, at="2025-01-13 10:00:00", by="Bob"),
        row(p=0.3, at="2025-01-14 10:00:00", by="Ada"),
        row(p=0.5, at="2025-01-15 10:00:00", by=None),
    )
    result = parse(text, forecaster=" ada ")
    kept = only(result.rows)
    assert (kept.forecaster, kept.p) == ("Ada", 0.3)
    assert result.excluded == 2
    assert result.forecasters == ("Ada", "Bob")


def test_forecaster_needs_the_forecast_created_by_column() -> None:
    header = [h for h in HEADER if h != "Forecast created by"]
    with pytest.raises(BadInput, match="'Forecast created by' column"):
        parse(export(row(header=header), header=header), forecaster="Ada")


# -- bad rows and bad files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"p": "seventy"}, "forecast 'seventy' is not a number"),
        ({"p": "nan"}, "forecast 'nan' is not a number"),
        ({"p": ""}, "no forecast"),
        (
            {"p": 1.5},
            "forecast 1.5 is outside [0, 1] (the column is on a 0-1 scale; write 70% for a percentage)",
        ),
        (
            {"p": -0.1},
            "forecast -0.1 is outside [0, 1] (the column is on a 0-1 scale; write 70% for a percentage)",
        ),
        ({"p": "120%"}, "forecast 120% is outside [0, 1]"),
        ({"at": "15/01/2025 03:50"}, "Forecast created at '15/01/2025 03:50' is not a date"),
        ({"at": "2025-13-01 00:00:00"}, "Forecast created at '2025-13-01 00:00:00' is not a date"),
        ({"at": ""}, "no 'Forecast created at' date"),
        ({"created": "yesterday"}, "Question created at 'yesterday' is not a date"),
        ({"resolve_by": "2025-02-30 00:00:00"}, "Question resolve by '2025-02-30 00:00:00' is not a date"),
        (
            {"resolution": "YES", "resolved_at": "2025-02-01 25:00:00"},
            "Resolved at '2025-02-01 25:00:00' is not a date",
        ),
        ({"resolution": "MAYBE"}, "resolution 'MAYBE' is not YES, NO or AMBIGUOUS"),
        ({"title": ""}, "no question title"),
    ],
)
def test_a_bad_row_is_skipped_with_its_line_and_reason(changes: dict[str, Any], reason: str) -> None:
    text = export(row("good before", 0.1), row(**{"title": "bad", **changes}), row("good after", 0.2))
    result = parse(text)
    assert result.skipped == [(3, reason)]
    assert [r.question for r in result.rows] == ["good before", "good after"]


def test_a_short_row_reads_missing_cells_as_empty() -> None:
    text = export(row("fine", 0.4), '"cut short",,"Ada",0.5')
    result = parse(text)
    assert [r.question for r in result.rows] == ["fine"]
    assert result.skipped == [(3, "no 'Forecast created at' date")]


def test_missing_columns_raise_bad_input_naming_them() -> None:
    header = [h for h in HEADER if h not in ("Forecast (scale = 0-1)", "Resolved at")]
    with pytest.raises(BadInput) as info:
        parse(export(row(header=header), header=header))
    message = str(info.value)
    assert message == (
        "the file has no 'Forecast (scale = 0-1)', 'Resolved at' columns; it should be "
        "a Fatebook CSV export (on fatebook.io: More → Export all your forecasts)"
    )
    assert info.value.exit_code == 2


def test_a_different_csv_is_refused() -> None:
    with pytest.raises(
        BadInput, match=r"no 'Question title', .* columns; it should be a Fatebook CSV export"
    ):
        parse("id,prediction,probability\n1,rain,0.7\n")


@pytest.mark.parametrize("text", ["", "\ufeff", "\n\r\n  \n"])
def test_an_empty_file_is_refused(text: str) -> None:
    with pytest.raises(BadInput, match="the file is empty; expected a Fatebook CSV export"):
        parse(text)


def test_a_header_only_file_has_nothing_to_import() -> None:
    result = parse(",".join(HEADER) + "\n")
    assert result.rows == []
    assert result.skipped == []


# -- importing into a notebook -------------------------------------------------------------------------


def test_import_scores_the_history_and_reimport_adds_only_news(project, tmp_path) -> None:
    from sklearn.metrics import brier_score_loss

    from .conftest import lab

    first = export(
        row("A?", 0.8, "2025-01-02 10:00:00", resolution="YES", resolved_at="2025-02-01 10:00:00"),
        row("B?", 0.3, "2025-01-03 10:00:00", resolution="NO", resolved_at="2025-02-01 10:00:00"),
        row("C?", 0.6, "2025-01-04 10:00:00"),
        row("D?", "abc", "2025-01-05 10:00:00"),
    )
    path = tmp_path / "fatebook-forecasts.csv"
    path.write_text(first)
    out = lab("predict", "--import-fatebook", str(path))
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[0] == (
        "Imported from fatebook-forecasts.csv: 3 added, 0 newly resolved, 0 revised, 0 already here, 1 skipped"
    )
    assert out.output.splitlines()[1].startswith("  line 5: ")
    rep = json.loads(lab("calibration", "--json").output)
    assert rep["binary"]["n"] == 2 and rep["unresolved"] == 1
    assert rep["binary"]["brier"] == pytest.approx(brier_score_loss([1, 0], [0.8, 0.3]))
    assert [s["kind"] for s in rep["slices"]["kind"]] == ["fatebook"]

    later = export(
        row("A?", 0.8, "2025-01-02 10:00:00", resolution="YES", resolved_at="2025-02-01 10:00:00"),
        row("B?", 0.3, "2025-01-03 10:00:00", resolution="NO", resolved_at="2025-02-01 10:00:00"),
        row("C?", 0.6, "2025-01-04 10:00:00", resolution="NO", resolved_at="2025-03-01 10:00:00"),
        row("E?", 0.9, "2025-01-06 10:00:00"),
    )
    path.write_text(later)
    again = lab("predict", "--import-fatebook", str(path))
    assert again.output.startswith(
        "Imported from fatebook-forecasts.csv: 1 added, 1 newly resolved, 0 revised, 2 already here, 0 skipped"
    )
    assert json.loads(lab("calibration", "--json").output)["binary"]["n"] == 3


def test_import_of_a_file_that_is_not_fatebooks(project, tmp_path) -> None:
    from .conftest import lab

    path = tmp_path / "runs.csv"
    path.write_text("name,acc\nbaseline,0.9\n")
    out = lab("predict", "--import-fatebook", str(path))
    assert out.exit_code == 2 and out.output.startswith("error: ") and out.output.count("\n") == 1
    assert "Fatebook" in out.output
    assert json.loads(lab("calibration", "--json").output)["considered"] == 0


def test_import_of_several_peoples_forecasts_asks_whose(project, tmp_path) -> None:
    from .conftest import lab

    path = tmp_path / "shared.csv"
    path.write_text(export(row("A?", 0.8, by="Ada"), row("A?", 0.4, by="Grace")))
    out = lab("predict", "--import-fatebook", str(path))
    assert out.exit_code == 2 and "--forecaster NAME" in out.output
    ok = lab("predict", "--import-fatebook", str(path), "--forecaster", "grace")
    assert ok.exit_code == 0 and "1 added" in ok.output and "1 by other people left out" in ok.output


def test_imported_questions_keep_their_tags_for_calibration_slices(project, tmp_path) -> None:
    from sklearn.metrics import brier_score_loss

    from .conftest import lab

    done = {"resolution": "YES", "resolved_at": "2025-02-01 10:00:00"}
    path = tmp_path / "fatebook.csv"
    path.write_text(
        export(
            row("A?", 0.8, "2025-01-02 10:00:00", tags="vision, baselines", **done),
            row("B?", 0.3, "2025-01-03 10:00:00", tags="vision", **done),
            row(
                "C?",
                0.6,
                "2025-01-04 10:00:00",
                tags="nlp",
                resolution="NO",
                resolved_at="2025-02-01 10:00:00",
            ),
        )
    )
    assert lab("predict", "--import-fatebook", str(path)).exit_code == 0
    vision = json.loads(lab("calibration", "--tag", "vision", "--json").output)
    assert vision["binary"]["n"] == 2
    assert vision["binary"]["brier"] == pytest.approx(brier_score_loss([1, 1], [0.8, 0.3]))
    slices = {s["tag"]: s["n"] for s in json.loads(lab("calibration", "--json").output)["slices"]["tag"]}
    assert slices == {"baselines": 1, "nlp": 1, "vision": 2}
