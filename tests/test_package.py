import subprocess
import sys

import numpy as np

import dwarflib
from dwarflib import cli, datamodel


def test_version():
    assert dwarflib.__version__.count(".") == 2


def test_cli_help_lists_commands():
    result = subprocess.run([sys.executable, "-m", "dwarflib", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "dwarflib" in result.stdout
    for module in cli.COMMAND_MODULES:
        assert module.__name__.rsplit(".", 1)[-1] in result.stdout


def test_sweep_dtype_matches_data_model():
    dt = datamodel.sweep_dtype()
    assert dt["FLUX_R"] == np.dtype("f4")
    assert dt["RA"] == np.dtype("f8")
    assert dt["TYPE"] == np.dtype("S3")
    assert set(datamodel.REQUIRED_COLUMNS) <= set(dt.names)


def test_unique_id_is_unique_and_invertible():
    rel = np.array([9010, 9010, 9011])
    brick = np.array([1, 1, 1])
    obj = np.array([0, 1, 0])
    ids = datamodel.unique_id(rel, brick, obj)
    assert len(set(ids.tolist())) == 3
    assert (ids & ((1 << 22) - 1)).tolist() == obj.tolist()  # DESI layout: OBJID 0-21, BRICKID 22-41, RELEASE 42-57
    assert ((ids >> 22) & ((1 << 20) - 1)).tolist() == brick.tolist()
    assert (ids >> 42).tolist() == rel.tolist()
