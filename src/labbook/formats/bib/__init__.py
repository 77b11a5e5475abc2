"""Parsers of bibliography files: BibTeX, CSL-JSON, RIS and saved arXiv Atom feeds.

Pure functions from text to ``Parsed``: the usable entries, and the entries skipped with
where they were and why. They never touch the notebook. A file that is not the format it
claims raises ``BadInput`` naming the line that gave it away; a single bad entry inside an
otherwise good file is skipped and reported, so one typo does not cost a whole import.

``files`` picks the parser (``bibtex``, ``csl``, ``ris``, ``atom``); each builds its
entries through ``entry``, which holds the normalisation the duplicate rules compare.
"""
