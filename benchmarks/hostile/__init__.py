"""Hostile-input cases for ``benchmarks/hostile_inputs.py`` (issue #17).

Each module here defines ``CASES``: a list of :class:`benchmarks.hostile_inputs.Case`. A case is a function
``check(ctx)`` that sets up one hostile situation (a corrupt file, a bad row, a kill, a concurrent run, same-named
files, a bad model, a bad option...) and raises ``AssertionError`` (with a reason) when dwarflib does the wrong thing.
"""
