"""Bibliography parsers on real-looking, messy files (tests/fixtures/papers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labbook.errors import BadInput
from labbook.formats.bib.bibtex import to_bibtex
from labbook.formats.bib.entry import arxiv_id, norm_doi, norm_title
from labbook.formats.bib.files import detect, parse

FIX = Path(__file__).parent / "fixtures" / "papers"


def read(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


def test_bibtex_month_macros_strings_accents_and_bad_entries() -> None:
    parsed = parse(read("library.bib"), "bibtex")
    by_key = {e.key: e for e in parsed.entries}
    bottou = by_key["bottou2018optimization"]
    assert bottou.authors == ["Bottou, Léon", "Curtis, Frank E.", "Nocedal, Jorge"]  # {\'e} decoded
    assert bottou.venue == "SIAM Review"  # the @string macro resolved
    assert bottou.year == 2018 and bottou.doi == "10.1137/16m1080173"
    assert by_key["he2016deep"].doi == "10.1109/cvpr.2016.90"  # https://doi.org/ stripped
    assert by_key["he2016deep"].year == 2016  # an unquoted number
    assert by_key["hu2021lora"].arxiv == "2106.09685"  # eprint with its version dropped
    assert by_key["hu2021lora"].title == "LoRA: Low-Rank Adaptation of Large Language Models"
    assert by_key["scholkopf1998kpca"].authors[0] == "Schölkopf, Bernhard"
    assert by_key["kaplan2020scaling"].arxiv == "2001.08361"  # from "arXiv preprint arXiv:..."
    assert by_key["kingma2015adam"].arxiv == "1412.6980"  # from the url
    assert dict(parsed.skipped) == {
        "line 44 (untitled-draft)": "no title",
        "line 63 '@article{broken2023,'": "not valid BibTeX (unbalanced braces or quotes?)",
    }
    assert (FIX / "library.bib").read_text().splitlines()[43].startswith("@misc{untitled-draft")


def test_csl_json_from_zotero() -> None:
    parsed = parse(read("zotero.json"), "csl-json")
    titles = [e.title for e in parsed.entries]
    assert titles == [
        "Optimization Methods for Large-Scale Machine Learning",
        "LoRA: Low-Rank Adaptation of Large Language Models",
        "Training Compute-Optimal Large Language Models",
    ]
    bottou, lora, chinchilla = parsed.entries
    assert bottou.authors[0] == "Bottou, Léon" and bottou.year == 2018 and bottou.abstract
    assert bottou.key is None  # a Zotero item URI is not a citation key
    assert lora.arxiv == "2106.09685" and lora.entry_type == "misc"
    assert chinchilla.arxiv == "2203.15556" and chinchilla.authors[-1] == "DeepMind"
    assert chinchilla.entry_type == "inproceedings"
    assert parsed.skipped == [("item 4 (http://zotero.org/users/local/abc123/items/NOTITLE1)", "no title")]


def test_ris_continuations_missing_title_and_unclosed_record() -> None:
    parsed = parse(read("endnote.ris"), "ris")
    kpca, attention = parsed.entries
    assert kpca.authors == ["Schölkopf, Bernhard", "Smola, Alexander", "Müller, Klaus-Robert"]
    assert kpca.year == 1998 and kpca.venue == "Neural Computation"
    assert attention.title == "Attention is All you Need"  # a wrapped line joined
    assert attention.arxiv == "1706.03762" and attention.key == "vaswani2017"
    assert parsed.skipped == [
        ("line 27", "no title"),
        ("line 33", "record not closed by 'ER  -' at the end of the file"),
    ]


def test_arxiv_atom_feed() -> None:
    parsed = parse(read("arxiv-search.xml"), "arxiv")
    assert [e.arxiv for e in parsed.entries] == ["2106.09685", "2305.14314", "2402.09353"]
    lora = parsed.entries[0]
    assert lora.authors == ["Edward J. Hu", "Yelong Shen"] and lora.year == 2021
    assert lora.abstract.startswith("An important paradigm")  # whitespace normalised
    assert parsed.entries[2].doi == "10.48550/arxiv.2402.09353"
    assert parsed.skipped == [("entry 4 (2411.00123v1)", "no title")]


@pytest.mark.parametrize(
    ("name", "fmt", "message"),
    [
        (
            "not-really.bib",
            "bibtex",
            "is not BibTeX (no @type{key, ...} entry found): line 1 starts with '['",
        ),
        (
            "not-really.ris",
            "ris",
            "is not RIS (it must start with a 'TY  - ' line): line 1 starts with '@article",
        ),
        ("truncated.xml", "arxiv", "is not arXiv Atom XML: malformed XML at line 6"),
        ("rss.xml", "arxiv", "is not an arXiv Atom feed: its root element is <rss>, not <feed>"),
        ("broken.json", "csl-json", "is not CSL-JSON: invalid JSON at line 3"),
        ("library.bib", "csl-json", "is not CSL-JSON: invalid JSON at line 1"),
    ],
)
def test_a_file_that_is_not_its_format_says_where(name: str, fmt: str, message: str) -> None:
    with pytest.raises(BadInput) as err:
        parse(read(name), fmt)
    assert str(err.value).startswith("this file " + message)


def test_identifiers_and_titles_normalise() -> None:
    assert arxiv_id("http://arxiv.org/abs/2106.09685v3") == "2106.09685"
    assert arxiv_id("arXiv:hep-th/9901001v2") == "hep-th/9901001"
    assert arxiv_id("version 2.1 of the code") is None
    assert norm_doi("https://doi.org/10.1109/CVPR.2016.90") == "10.1109/cvpr.2016.90"
    assert norm_doi("doi: 10.1162/089976698300017467.") == "10.1162/089976698300017467"
    assert norm_doi("not a doi") is None
    assert norm_title("{LoRA}: Low-Rank  Adaptation!") == norm_title("lora low rank adaptation")
    assert norm_title("Schölkopf’s Kernels") == "scholkopf s kernels"
    assert detect(Path("x.BIB")) == "bibtex" and detect(Path("x.txt"), "ris") == "ris"
    with pytest.raises(BadInput, match=r"cannot tell the format of x\.txt"):
        detect(Path("x.txt"))


def test_bibtex_export_reads_back_the_same() -> None:
    entries = parse(read("library.bib"), "bibtex").entries
    entries[0].title = "Braces {that do not} close}"  # never breaks the file
    back = parse(to_bibtex(entries), "bibtex")
    assert not back.skipped
    # LaTeX decoding drops the (now balanced) braces on the way back, as for any imported .bib
    assert [e.title for e in back.entries] == ["Braces that do not close", *[e.title for e in entries[1:]]]
    for a, b in zip(entries[1:], back.entries[1:], strict=True):
        assert (a.authors, a.year, a.doi, a.arxiv, a.key) == (b.authors, b.year, b.doi, b.arxiv, b.key)


def test_a_reused_citation_key_is_kept_as_an_entry_of_its_own() -> None:
    text = (
        '@string{jx = "Journal of X"}\n'
        "@article{smith20, title={Sparse Attention}, journal=jx, year=2020}\n"
        '@article{smith20, title={Dense {\\"U}bersicht}, journal=jx, month=jan, year=2021}\n'
    )
    parsed = parse(text, "bibtex")
    assert [(e.title, e.venue, e.year, e.where) for e in parsed.entries] == [
        ("Sparse Attention", "Journal of X", 2020, "line 2 (smith20)"),
        ("Dense Übersicht", "Journal of X", 2021, "line 3 (smith20, a reused key)"),
    ]
    assert parsed.skipped == []


def test_string_concatenation_months_and_macros_built_from_earlier_ones() -> None:
    text = (
        '@string{ml = "Machine Learning"}\n'
        '@STRING{jmlr = "Journal of " # ML # { Research}}\n'  # names ignore case
        '@string{jmlr21 = jmlr # ", " # "vol. " # 22}\n'
        '@string{jan = "Jan."}\n'  # a file may redefine a predefined month
        '@article{a, title = ml # " and more", journal = jmlr21, year = 2021}\n'
        '@misc{b, title = {Talk} # " in " # mar, howpublished = "Seminar, " # dec # " 2020", year = 2020}\n'
        '@misc{c, title = "Notes of " # jan, howpublished = later}\n'
        "@string{later = {Defined {A}fter Its Use}}\n"  # within a file, order does not matter
    )
    parsed = parse(text, "bibtex")
    assert parsed.skipped == []
    assert [(e.key, e.title, e.venue) for e in parsed.entries] == [
        ("a", "Machine Learning and more", "Journal of Machine Learning Research, vol. 22"),
        ("b", "Talk in March", "Seminar, December 2020"),
        ("c", "Notes of Jan.", "Defined After Its Use"),
    ]
    assert parsed.strings == 5 and parsed.macros["jmlr"] == "Journal of Machine Learning Research"


def test_an_undefined_macro_skips_its_entry_never_stores_its_name() -> None:
    text = (
        '@string{full = missing # " x"}\n'
        "@string{loop = loop}\n"
        "@article{smith20, title = {Sparse Attention}, journal = jmlr, year = 2020}\n"
        "@article{lee21, title = {Dense Attention}, journal = full}\n"
        "@article{kim22, title = {Looping}, journal = loop}\n"
        "@article{park23, title = pre and more}\n"
        "@article{ok24, title = {Fine}, address = nowhere, month = sept}\n"  # fields never read
    )
    parsed = parse(text, "bibtex")
    assert [e.key for e in parsed.entries] == ["ok24"]
    assert dict(parsed.skipped) == {
        "line 1 (@string full)": "undefined macro missing in @string full: no @string{missing = ...}"
        " in this file or in one imported before it",
        "line 2 (@string loop)": "the @string loop is defined in terms of itself",
        "line 3 (smith20)": "undefined macro jmlr in journal: no @string{jmlr = ...}"
        " in this file or in one imported before it",
        "line 4 (lee21)": "undefined macro missing in @string full: no @string{missing = ...}"
        " in this file or in one imported before it",
        "line 5 (kim22)": "the @string loop is defined in terms of itself",
        "line 6 (park23)": "title = pre and more: not a BibTeX value (join parts with #, put text in {braces})",
    }
    assert parsed.macros == {}


def test_macros_reach_the_files_after_their_own_only() -> None:
    strings = parse('@string{jmlr = "JMLR"}\n@string{bad = nope}\n', "bibtex")  # no entry: still BibTeX
    assert (strings.entries, strings.strings, strings.macros) == ([], 1, {"jmlr": "JMLR"})
    refs = "@article{a, title = {A}, journal = jmlr}\n"
    assert parse(refs, "bibtex", strings.macros).entries[0].venue == "JMLR"
    assert parse(refs, "bibtex").skipped[0][1].startswith("undefined macro jmlr in journal")
    between = parse(read("zotero.json"), "csl-json", strings.macros)  # passed through other formats
    assert between.macros == {"jmlr": "JMLR"}
    again = parse('@string{jmlr = "J. Mach. Learn. Res."}\n' + refs, "bibtex", between.macros)
    assert again.entries[0].venue == "J. Mach. Learn. Res." and again.macros == {
        "jmlr": "J. Mach. Learn. Res."
    }
