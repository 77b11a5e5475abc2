"""Metric series on disk: append-only files, one per writer, never silent about damage.

Every writer (one SDK process, the stdout parser of ``lab run``) appends to a file of
its own under ``runs/<uid>/metrics/``, so writers never contend for a lock. A file is a
sequence of the blocks of ``formats/series.py``. What keeps data from being lost or hidden:

- an append lands whole or not at all (``write``: ``SeriesWriter``);
- a reader resynchronises on the next intact block after bytes that do not add up, and
  names every region it skipped as a ``Damage`` (``scan``, through the bounded reads of
  ``files``; ``read`` for a run's whole directory);
- compaction streams in bounded memory, copies large blocks verbatim, and never rewrites
  a file that has any damage (``compact``: ``compact_file``, whose ``Compaction`` result
  carries a one-line ``warning``); a long run's closed segments are compacted by a
  background helper process (``compactor``).

Writing and compaction need only the standard library (``import labbook`` must stay
light); reading uses numpy.
"""
