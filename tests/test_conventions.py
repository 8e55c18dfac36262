"""Issue #15: the conventions written once keep the bits (and the dtype) of the copies they replace."""

from __future__ import annotations

import numpy as np

from dwarflib import conventions


def test_ab_magnitude_keeps_dtype_and_bits():
    rng = np.random.default_rng(0)
    flux = rng.lognormal(0.0, 2.0, 1000).astype(np.float32)
    trans = rng.uniform(0.5, 1.0, 1000).astype(np.float32)
    got = conventions.ab_magnitude(flux, trans)
    assert got.dtype == np.float32
    assert np.array_equal(got, 22.5 - 2.5 * np.log10(flux / trans))
    f64 = flux.astype(float)
    assert np.array_equal(conventions.ab_magnitude(f64, 1.0), 22.5 - 2.5 * np.log10(f64 / 1.0))


def test_mean_surface_brightness_matches_the_formula():
    rng = np.random.default_rng(1)
    m, r, ba = rng.uniform(15, 25, 500), rng.uniform(0.1, 10, 500), rng.uniform(0.1, 1, 500)
    assert np.array_equal(conventions.mean_surface_brightness(m, r), m + 2.5 * np.log10(2.0 * np.pi * r**2))
    assert np.array_equal(conventions.mean_surface_brightness(m, r, ba), m + 2.5 * np.log10(2 * np.pi * r**2 * ba))
    # 1 arcsec: mu = m + 2.5 log10(2 pi)
    assert np.isclose(conventions.mean_surface_brightness(20.0, 1.0), 20.0 + 2.5 * np.log10(2 * np.pi))


def test_axis_ratio_distance_modulus_sha256(tmp_path):
    assert conventions.axis_ratio(0.6, 0.0) == 0.25
    assert conventions.distance_modulus_of_distance(10.0) == 30.0
    assert np.isnan(conventions.distance_modulus_of_distance(0.0))
    d = np.array([0.5, 10.0, 37.2, 1000.0])  # the inverse, [Mpc]
    np.testing.assert_allclose(
        conventions.distance_of_distance_modulus(conventions.distance_modulus_of_distance(d)), d, rtol=1e-12)
    p = tmp_path / "x.bin"
    p.write_bytes(b"abc" * 1_000_000)
    import hashlib

    assert conventions.file_sha256(p, chunk=4096) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_sersic_mean_minus_central_surface_brightness():
    # Gaussian (n = 0.5): b = ln 2, mean-inside-r_e minus central = 2.5 log10(e) ln 2 - 2.5 log10(1 / ln 2)
    gauss = 2.5 * np.log10(np.e) * np.log(2) - 2.5 * np.log10(1 / np.log(2))
    np.testing.assert_allclose(conventions.sersic_mean_minus_central([0.5, 1.0]), [gauss, 1.1244], atol=2e-4)
    n = np.array([0.6, 1.0, 2.0, 4.0])
    assert np.all(np.diff(conventions.sersic_mean_minus_central(n)) > 0)  # more concentrated, brighter centre
