"""Class labels: the 7-class scheme in (redshift, log stellar mass), the binary collapse,
and colour-based stellar-mass estimators.

The paper (Zhang et al. 2025) does not publish its class boundaries; the default below is the
scheme suggested in the project's science notes and is fully configurable through
:class:`ClassScheme`.

========  ===========================  ==========================================
class     name                         definition (default boundaries)
========  ===========================  ==========================================
0         signal                       z < 0.02 and 6 <= log M* < 9
1         local massive                z < 0.02 and log M* >= 9
2         nearby dwarf                 0.02 <= z < 0.05 and log M* < 9
3         nearby sub-L*                0.02 <= z < 0.05 and log M* >= 9
4         intermediate low-mass        0.05 <= z < 0.2 and log M* < 10
5         intermediate massive         0.05 <= z < 0.2 and log M* >= 10
6         other                        z >= 0.2 galaxies, stars, QSOs, and
                                       z < 0.02 galaxies with log M* < 6
========  ===========================  ==========================================

Local galaxies below the signal's lower mass bound (log M* < 6) are rare in any photometric
sample; they go to "other" rather than "signal" so that the signal definition stays exactly the
paper's (10^6 - 10^9 Msun).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SIGNAL = 0


@dataclass(frozen=True)
class ClassScheme:
    """Boundaries of the 7-class scheme (redshift, dimensionless; masses in log10 Msun, dex)."""

    z_local: float = 0.02
    z_nearby: float = 0.05
    z_intermediate: float = 0.2
    logm_signal_min: float = 6.0
    logm_dwarf_max: float = 9.0
    logm_intermediate_split: float = 10.0

    names: tuple[str, ...] = (
        "signal",
        "local massive",
        "nearby dwarf",
        "nearby sub-L*",
        "intermediate low-mass",
        "intermediate massive",
        "other",
    )

    @property
    def n_classes(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict:
        """JSON-serialisable description (stored with trained models)."""
        d = asdict(self)
        d["names"] = list(self.names)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ClassScheme:
        d = dict(d)
        d["names"] = tuple(d.get("names", cls.names))
        return cls(**d)

    def assign(self, z, logmstar, is_star=None) -> np.ndarray:
        """Class index (int8) for each object.

        Parameters
        ----------
        z : array_like
            Spectroscopic (or true) redshift.
        logmstar : array_like
            log10 stellar mass [dex, Msun].
        is_star : array_like of bool, optional
            Stars and QSOs; they go to class 6 ("other") whatever their z and mass.

        Raises
        ------
        ValueError
            If a galaxy (not flagged as star) has a NaN redshift or mass: a label cannot be guessed.
        """
        z = np.asarray(z, dtype=float)
        m = np.asarray(logmstar, dtype=float)
        star = np.zeros(z.shape, bool) if is_star is None else np.asarray(is_star, bool)
        bad = ~star & ~(np.isfinite(z) & np.isfinite(m))
        if bad.any():
            idx = np.flatnonzero(bad)[:5].tolist()
            raise ValueError(f"{bad.sum()} galaxies have NaN/inf redshift or log M* (first rows: {idx})")
        out = np.full(z.shape, 6, dtype=np.int8)
        local = z < self.z_local
        nearby = (z >= self.z_local) & (z < self.z_nearby)
        inter = (z >= self.z_nearby) & (z < self.z_intermediate)
        out[local & (m >= self.logm_signal_min) & (m < self.logm_dwarf_max)] = 0
        out[local & (m >= self.logm_dwarf_max)] = 1
        out[nearby & (m < self.logm_dwarf_max)] = 2
        out[nearby & (m >= self.logm_dwarf_max)] = 3
        out[inter & (m < self.logm_intermediate_split)] = 4
        out[inter & (m >= self.logm_intermediate_split)] = 5
        out[star] = 6
        return out


#: The default scheme (science notes, "Suggested 7-class scheme").
DEFAULT_SCHEME = ClassScheme()
CLASS_NAMES = DEFAULT_SCHEME.names


def assign_classes(z, logmstar, is_star=None, scheme: ClassScheme = DEFAULT_SCHEME) -> np.ndarray:
    """Class index for each object under ``scheme`` (see :meth:`ClassScheme.assign`)."""
    return scheme.assign(z, logmstar, is_star)


def to_binary(y) -> np.ndarray:
    """Collapse 7-class labels to signal (1) vs the rest (0)."""
    return (np.asarray(y) == SIGNAL).astype(np.int8)
