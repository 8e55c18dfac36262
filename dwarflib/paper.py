"""The numbers reported by the paper this project reproduces, each once, with where it comes from.

Zhang, Ye, Wu & Zaritsky 2025, "A Local Dwarf Galaxy Search Using Machine Learning", ApJS, arXiv:2503.00109.
Every value below is taken from the paper's **abstract** (the full text is not available to the project); the
book's chapters and :mod:`dwarflib.verification` import them from here, and ``tests/test_stale_numbers.py`` fails
when a chapter types one of them as a literal.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Where the numbers come from.
REFERENCE = "Zhang, Ye, Wu & Zaritsky 2025, ApJS, arXiv:2503.00109"
SOURCE = f"{REFERENCE}, abstract"


@dataclass(frozen=True)
class Reported:
    """One number the paper reports: its value, its unit and where in the paper it is."""

    value: float
    unit: str
    source: str


#: Signal precision of the paper's full-feature 7-class network on its held-out test set (fraction, 0-1).
TEST_PRECISION = Reported(0.9533, "fraction", SOURCE)
#: Signal recall of the same network on the same test set (fraction, 0-1).
TEST_RECALL = Reported(0.7607, "fraction", SOURCE)
#: Candidates in the paper's catalogue over the whole DR9 footprint (objects).
N_CANDIDATES = Reported(112_859, "objects", SOURCE)
#: Of those, candidates with p_signal above :data:`HIGH_CONFIDENCE_THRESHOLD` (objects).
N_HIGH_CONFIDENCE = Reported(36_408, "objects", SOURCE)
#: The paper's high-confidence cut on p_signal (probability, 0-1).
HIGH_CONFIDENCE_THRESHOLD = Reported(0.95, "probability", SOURCE)

#: The paper's independent checks against spectroscopic samples: (precision, recall), fractions 0-1, from its
#: abstract (DESI EDR: "precision about 100 %, recall about 51 %"; SAGA 96 % / 68 %; ELVES 97 % / 53 %).
CHECKS: dict[str, tuple[float, float]] = {
    "DESI EDR": (1.00, 0.51),
    "SAGA DR3": (0.96, 0.68),
    "ELVES": (0.97, 0.53),
}

#: (precision, recall) of the held-out test set, as a pair (fractions 0-1).
TEST_SET: tuple[float, float] = (TEST_PRECISION.value, TEST_RECALL.value)


def test_f1() -> float:
    """F1 score (harmonic mean of precision and recall) of the paper's test-set numbers (fraction, 0-1)."""
    p, r = TEST_SET
    return 2 * p * r / (p + r)


test_f1.__test__ = False  # a function of the package, not a pytest test


def reported_values() -> dict[str, float]:
    """Every number of this module by name (``name -> value``), for the stale-number test of the book."""
    out = {name: obj.value for name, obj in globals().items() if isinstance(obj, Reported)}
    for check, (p, r) in CHECKS.items():
        out[f"CHECKS[{check}].precision"] = p
        out[f"CHECKS[{check}].recall"] = r
    return out
