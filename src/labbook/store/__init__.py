"""Stores: where the notebook keeps runs, research, the journal, papers, problems and examples.

``protocols`` says what the service needs, one protocol per area; ``sqlite`` is the embedded
implementation; ``series`` and ``compactor`` keep metric series in the files area.
"""
