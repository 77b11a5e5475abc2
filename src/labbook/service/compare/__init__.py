"""Gathering runs for ``lab compare`` and ``lab plot``: sides, variants, values, diffs.

``sides`` turns what the user named into runs, leaving out smoke and unfinished ones;
``variants`` groups runs that differ only in noise keys; ``metrics`` and ``values`` give
one value per (configuration, seed), repeats folded, paired by seed when asked;
``examples`` pairs on per-example scores instead; ``diffs`` and ``budgets`` say how the
sides differ besides the metric; ``report`` (``lab compare A B``) and ``groups``
(``--group-by``) run the tests and settle the verdicts; ``words`` says them.

The arithmetic is in ``core/stats/``; this package only chooses what to feed it.
"""
