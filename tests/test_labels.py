import numpy as np
import pytest

from dwarflib.labels import CLASS_NAMES, DEFAULT_SCHEME, ClassScheme, assign_classes, to_binary


def test_default_scheme_boundaries():
    z = [0.01, 0.01, 0.01, 0.03, 0.03, 0.1, 0.1, 0.3, 0.0199999, 0.02, 0.01]
    m = [7.0, 9.5, 5.5, 8.0, 9.0, 9.99, 10.0, 8.0, 6.0, 8.9, 9.0]
    expected = [0, 1, 6, 2, 3, 4, 5, 6, 0, 2, 1]
    assert assign_classes(z, m).tolist() == expected


def test_stars_are_other_whatever_their_z_and_mass():
    y = assign_classes([0.0, 0.01], [np.nan, 7.0], is_star=[True, True])
    assert y.tolist() == [6, 6]


def test_nan_labels_for_galaxies_raise_with_row():
    with pytest.raises(ValueError, match="first rows: \\[1\\]"):
        assign_classes([0.01, np.nan], [7.0, 7.0])


def test_binary_collapse():
    assert to_binary([0, 1, 2, 0, 6]).tolist() == [1, 0, 0, 1, 0]


def test_scheme_is_configurable_and_round_trips():
    scheme = ClassScheme(z_local=0.03, logm_dwarf_max=9.5)
    assert scheme.assign([0.025], [9.2]).tolist() == [0]
    assert DEFAULT_SCHEME.assign([0.025], [9.2]).tolist() == [3]
    assert ClassScheme.from_dict(scheme.to_dict()) == scheme
    assert len(CLASS_NAMES) == scheme.n_classes == 7
