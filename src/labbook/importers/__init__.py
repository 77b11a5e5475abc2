"""Readers of other trackers' history (MLflow, W&B), so runs made before labbook are not left behind.

Each reader's ``read(source, progress)`` checks the source at once (a wrong path or URI is a
``BadInput`` before anything is read) and then yields one ``ImportedRun`` per run, whole, and a
``Skipped`` for whatever it met and could not bring over, with the reason. Readers only read:
they never write to the source, and never to a notebook; the service writes what they yield.
Each imports its tool when called, so only ``lab import`` pays for it.
"""
