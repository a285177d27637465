"""bundling.config: the platform, the environment variables, the version."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundling.config import APP, BuildConfig, BuildError


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "pneumo_desktop").mkdir()
    (tmp_path / "pneumo_desktop" / "__init__.py").write_text('"""App."""\n\n__version__ = "1.2.3"\n')
    return tmp_path


def test_defaults(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    cfg = BuildConfig.from_env(repo, tmp_path / "build", tmp_path / "dist", environ={}, platform="linux")
    assert cfg.model_dir == (repo / "resources" / "model").resolve()
    assert cfg.forced_runtime is None and not cfg.no_strip and not cfg.full_icu
    assert cfg.is_linux and not cfg.is_win and not cfg.is_mac
    assert cfg.console and cfg.icon is None and cfg.trim_icu
    assert cfg.version == "1.2.3"
    assert cfg.out == tmp_path / "dist" / APP


def test_environment(tmp_path: Path) -> None:
    env = {
        "PNEUMO_BUNDLE_MODEL_DIR": str(tmp_path / "other"),
        "PNEUMO_BUNDLE_RUNTIME": "tensorflow",
        "PNEUMO_BUNDLE_NO_STRIP": "1",
        "PNEUMO_BUNDLE_FULL_ICU": "1",
    }
    cfg = BuildConfig.from_env(_repo(tmp_path), tmp_path, tmp_path, environ=env, platform="linux")
    assert cfg.model_dir == (tmp_path / "other").resolve()
    assert cfg.forced_runtime == "tensorflow"
    assert cfg.no_strip and not cfg.strip
    assert cfg.full_icu and not cfg.trim_icu


@pytest.mark.parametrize(
    ("platform", "icon", "console"),
    [("win32", "pneumo_desktop.ico", False), ("darwin", "pneumo_desktop.icns", False), ("linux", None, True)],
)
def test_platforms(tmp_path: Path, platform: str, icon: str | None, console: bool) -> None:
    cfg = BuildConfig.from_env(tmp_path, tmp_path, tmp_path, environ={}, platform=platform)
    assert (Path(cfg.icon).name if cfg.icon else None) == icon
    assert cfg.console is console
    assert not cfg.strip if platform != "linux" else True
    assert cfg.trim_icu is (platform == "linux")


def test_no_version(tmp_path: Path) -> None:
    (tmp_path / "pneumo_desktop").mkdir()
    (tmp_path / "pneumo_desktop" / "__init__.py").write_text("")
    cfg = BuildConfig.from_env(tmp_path, tmp_path, tmp_path, environ={})
    with pytest.raises(BuildError, match="build.spec: no __version__"):
        _ = cfg.version


def test_build_error_stops_like_system_exit() -> None:
    err = BuildError("boom")
    assert isinstance(err, SystemExit) and str(err) == "build.spec: boom"
