"""Published selection figures of other local-dwarf searches, each once, with its source and its own definitions.

The book places these next to the project's simulated purity and completeness curves. Their definitions are
not the project's: each constant says what its "signal", magnitude range and efficiency mean.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The DESI LOW-Z secondary target survey.
LOWZ_REFERENCE = "Darragh-Ford et al. 2023, ApJ 954, 149"


@dataclass(frozen=True)
class SelectionPoint:
    """A published (completeness, efficiency) point of a target selection.

    ``completeness`` and ``efficiency`` are fractions (0-1); efficiency is the fraction of targeted objects
    that turn out to be signal (a purity). ``z_max`` and ``r_range`` [mag] define the signal and the magnitude
    range the numbers refer to; ``completeness_is_lower_limit`` when the source quotes "more than".
    """

    name: str
    completeness: float
    efficiency: float
    z_max: float
    r_range: tuple[float, float]
    completeness_is_lower_limit: bool
    note: str
    source: str


#: LOW-Z catalogue (colour and surface-brightness) cuts: more than 95 % complete for z < 0.03 at 19 < r < 21,
#: at about 1 % efficiency.
LOWZ_CUTS = SelectionPoint(
    name="DESI LOW-Z catalogue cuts", completeness=0.95, efficiency=0.01, z_max=0.03, r_range=(19.0, 21.0),
    completeness_is_lower_limit=True,
    note="more than 95 % complete for z < 0.03 at 19 < r < 21, about 1 % efficiency", source=LOWZ_REFERENCE)

#: Efficiency gain of LOW-Z's image-based convolutional network over the catalogue cuts (about 10 times).
LOWZ_CNN_EFFICIENCY_GAIN = 10.0

#: The image CNN of LOW-Z: about :data:`LOWZ_CNN_EFFICIENCY_GAIN` times the cuts' efficiency. Its completeness
#: is not part of the summary used here; it is placed at the cuts' completeness.
LOWZ_CNN = SelectionPoint(
    name="DESI LOW-Z image CNN", completeness=LOWZ_CUTS.completeness,
    efficiency=LOWZ_CUTS.efficiency * LOWZ_CNN_EFFICIENCY_GAIN, z_max=LOWZ_CUTS.z_max, r_range=LOWZ_CUTS.r_range,
    completeness_is_lower_limit=False,
    note="about 10 times the efficiency of the cuts; drawn at the cuts' completeness (not given in this summary)",
    source=LOWZ_REFERENCE)
