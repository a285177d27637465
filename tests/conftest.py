"""Shared fixtures: the ../shared folder, a tiny real Keras model with a card, isolated user data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_path() -> Path:
    return Path(os.environ.get("PNEUMO_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not path.is_dir():
        reason = f"shared data folder not found at {path} (set PNEUMO_SHARED); real-data test skipped"
        if os.environ.get("PNEUMO_REQUIRE_SHARED"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def chest_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "chest_xray"
    if not path.is_dir():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(scope="session")
def dicom_dir(shared_dir: Path) -> Path:
    path = shared_dir / "dicom"
    if not path.is_dir():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(autouse=True)
def _isolated_user_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never write into the real user's data folder from tests."""
    monkeypatch.setenv("PNEUMO_DATA_DIR", str(tmp_path_factory.mktemp("userdata")))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny but real Keras model + card (same loading code as the bundled model)."""
    from tests.tinymodel import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("tinymodel"))
