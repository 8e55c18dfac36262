import re
from pathlib import Path

import pytest

from dwarflib import paths


def test_repo_root_holds_pyproject():
    assert (paths.repo_root() / "pyproject.toml").is_file()


def test_data_home_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path))
    assert paths.data_home() == tmp_path.resolve()


def test_data_home_uses_shared_mirror_when_unset(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.DATA_ENV, raising=False)
    mirror = tmp_path / "shared" / "data"
    mirror.mkdir(parents=True)
    monkeypatch.setattr(paths, "shared_mirror", lambda: mirror)
    assert paths.data_home() == mirror


def test_data_home_falls_back_to_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.DATA_ENV, raising=False)
    monkeypatch.setattr(paths, "shared_mirror", lambda: tmp_path / "does-not-exist")
    home = paths.data_home()
    assert "dwarflib" in str(home)
    assert not str(home).startswith(str(paths.repo_root()))


@pytest.mark.parametrize(
    ("func", "env"), [(paths.cache_dir, paths.CACHE_ENV), (paths.outputs_dir, paths.OUTPUTS_ENV)]
)
def test_generated_dirs_are_created_and_overridable(monkeypatch, tmp_path, func, env):
    monkeypatch.setenv(env, str(tmp_path / "x"))
    sub = func("a", "b")
    assert sub == tmp_path / "x" / "a" / "b"
    assert sub.is_dir()


def test_figures_live_under_outputs(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.OUTPUTS_ENV, str(tmp_path))
    assert paths.figures_dir() == tmp_path / "figures"
    assert paths.figures_dir().is_dir()


def test_no_notebook_hard_codes_a_path():
    """Notebooks ask dwarflib.paths; absolute paths or ../shared in a notebook would break on other machines."""
    for nb in Path(paths.repo_root(), "notebooks").glob("*.md"):
        code = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", nb.read_text(), flags=re.S)
        for cell in code:
            assert "/work/" not in cell, nb
            assert "shared/data" not in cell, nb
            assert "/home/" not in cell, nb
