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


def child_copy(src: Path, dst: Path, birth_date: str | None = None) -> Path:
    """A copy of a real (adult) DICOM film tagged as a young child, which the gate judges.

    The shared chest DICOMs are adults, and the gate refuses adults (issue 13). ``birth_date``:
    keep the age to be worked out from the birth date instead of Patient's Age.
    """
    from pydicom import dcmread

    ds = dcmread(src)
    if birth_date is None:
        ds.PatientAge = "004Y"
        if "PatientBirthDate" in ds:
            del ds.PatientBirthDate
    else:
        ds.PatientBirthDate = birth_date
        if "PatientAge" in ds:
            del ds.PatientAge
    dst = dst / src.name if dst.is_dir() else dst
    ds.save_as(dst)
    return dst
