"""Honest statistics for a handful of seeds: pure functions on numpy arrays, no storage.

Researchers compare 3 to 10 runs per side, where normal approximations lie. So:

- the CI of a mean is Student's t, with the median and its distribution-free interval
  beside it (``intervals``), and a shape note when a side looks skewed or holds an
  outlier (``shape``: Shapiro-Wilk);
- the difference of two means gets Welch's t interval; its p-value comes from Welch's t
  or a permutation test, whichever can be trusted at this n and can reach the level it
  must reach (``tests``);
- aligned values get the paired t, and McNemar's test for 0/1 scores (``paired``);
- beside the p-value: P(a run of A beats one of B) and Hedges' g (``effects``);
- seeds needed for 80% power, as a range over the SD's uncertainty (``power``);
- "better" needs p < alpha *and* a CI that excludes 0; several metrics have one primary,
  many variants against one baseline are Holm-adjusted (``multiple``);
- ``verdict.compare`` puts these together for one metric and says what it found.

scipy is imported inside the functions that need it. Every function is checked against
scipy or statsmodels on the same inputs, and its error rates by simulation, in
``tests/test_stats.py``.
"""
