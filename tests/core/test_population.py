"""Population from the DICOM header: age parsing, placeholders, the gate's decisions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pneumo_desktop.core import quality
from pneumo_desktop.core.io import XRay, load_xray
from pneumo_desktop.core.population import (
    NOT_CHECKED,
    age_from_dates,
    parse_age,
    parse_date,
    population_of,
)


@pytest.mark.parametrize(
    ("value", "years"),
    [
        ("003Y", 3.0),
        ("3Y", 3.0),
        ("018M", 1.5),
        ("010W", 70 / 365.25),
        ("020D", 20 / 365.25),
        ("081", 81.0),  # malformed: no unit, read as years
        ("81", 81.0),
        ("81Y", 81.0),
        ("005y", 5.0),  # lower case
        (" 017Y ", 17.0),
        ("017Y\x00", 17.0),  # padded
        ("0", 0.0),
        ("4 years", 4.0),
        ("6 MONTHS", 0.5),
    ],
)
def test_age_forms(value, years):
    assert parse_age(value) == pytest.approx(years)


@pytest.mark.parametrize(
    "value", [None, "", "   ", "Y", "abc", "3X", "-3Y", "3.5Y", "999Y", "12345", "03Y6M"]
)
def test_unusable_ages_are_unknown(value):
    assert parse_age(value) is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("20190314", True),
        ("2019-03-14", True),
        ("2019.03.14", True),
        ("19000101", False),  # placeholder
        ("18991231", False),
        ("00000000", False),
        ("", False),
        (None, False),
        ("20191345", False),  # impossible month
        ("a3f9c2e1", False),  # hashed
        ("5d41402abc4b2a76b9719d911017c592", False),
        ("2019031", False),
    ],
)
def test_dates_and_placeholders(value, ok):
    assert (parse_date(value) is not None) is ok


def test_age_from_birth_date_and_the_first_usable_later_date():
    assert age_from_dates("20150601", "20180601") == pytest.approx(3.0, abs=0.01)
    # study date missing or a placeholder: acquisition, then content date
    assert age_from_dates("20150601", "", "00000000", "20200601") == pytest.approx(5.0, abs=0.01)
    assert age_from_dates("20150601", None, "20170601") == pytest.approx(2.0, abs=0.01)
    assert age_from_dates("19000101", "20180601") is None  # placeholder birth date
    assert age_from_dates("00000000", "20180601") is None
    assert age_from_dates("deadbeef", "20180601") is None  # hashed
    assert age_from_dates("20150601") is None  # no date to measure against
    assert age_from_dates("20190601", "20180601") is None  # born after the study: inconsistent


def test_patient_age_wins_over_dates_and_unknown_is_an_answer():
    assert population_of("004Y", "19400101", "20200101").age_years == pytest.approx(4.0)
    assert population_of("", "19400101", "20200101").adult
    assert population_of("", "19000101", "20200101").known is False
    assert population_of(None).known is False


def _film(**kw) -> XRay:
    rng = np.random.default_rng(0)
    base = XRay(
        pixels=rng.random((300, 300), dtype=np.float32),
        path="x.dcm",
        format="DICOM",
        width=300,
        height=300,
        bit_depth=12,
        modality="DX",
    )
    return replace(base, **kw)


@pytest.mark.parametrize("age", ["081", "81", "018Y", "045Y", "240M"])
def test_adults_are_refused_with_the_trained_population(age):
    issue = quality.check_xray(_film(patient_age=age))
    assert issue is not None and issue.code == "adult"
    assert "children aged 1 to 5" in issue.message


def test_adult_by_birth_date_is_refused():
    issue = quality.check_xray(_film(patient_birth_date="19700102", study_date="20200101"))
    assert issue is not None and issue.code == "adult"


@pytest.mark.parametrize("age", ["003Y", "018M", "005Y"])
def test_young_children_are_judged_without_a_warning(age):
    x = _film(patient_age=age)
    assert quality.check_xray(x) is None
    assert quality.population_note(x) == ""


@pytest.mark.parametrize("age", ["006Y", "012Y", "017Y", "006M"])
def test_older_children_and_infants_are_judged_with_a_warning(age):
    x = _film(patient_age=age)
    assert quality.check_xray(x) is None
    note = quality.population_note(x)
    assert note.startswith("Warning") and "1 to 5" in note


def test_no_age_says_population_not_checked():
    assert quality.population_note(_film(format="PNG")) == NOT_CHECKED
    assert quality.population_note(_film(patient_age="", patient_birth_date="19000101")) == NOT_CHECKED
    assert "could not be checked" in NOT_CHECKED


@pytest.mark.parametrize("view", ["LL", "RL", "LATERAL", "lateral", "LAT"])
def test_lateral_views_are_refused(view):
    issue = quality.check_xray(_film(view_position=view, patient_age="003Y"))
    assert issue is not None and issue.code == "lateral_view"


def _rewrite(src: Path, dst: Path, **tags: str) -> Path:
    import pydicom

    ds = pydicom.dcmread(src)
    for k, v in tags.items():
        setattr(ds, k, v)
    ds.save_as(dst)
    return dst


def test_real_dicom_with_the_age_rewritten(dicom_dir, tmp_path):
    """A real chest DICOM from ../shared, its header rewritten: adult refused, child judged."""
    src = dicom_dir / "dx_chest_mono2_8bit_implicit_le.dcm"
    adult = load_xray(_rewrite(src, tmp_path / "adult.dcm", PatientAge="081"))
    assert adult.patient_age == "081"
    assert quality.check_xray(adult).code == "adult"
    born = load_xray(
        _rewrite(src, tmp_path / "born.dcm", PatientAge="", PatientBirthDate="19500101", StudyDate="20200101")
    )
    assert quality.check_xray(born).code == "adult"
    child = load_xray(_rewrite(src, tmp_path / "child.dcm", PatientAge="003Y"))
    assert quality.check_xray(child) is None and quality.population_note(child) == ""
    teen = load_xray(_rewrite(src, tmp_path / "teen.dcm", PatientAge="014Y"))
    assert quality.check_xray(teen) is None and quality.population_note(teen).startswith("Warning")
    lateral = load_xray(_rewrite(src, tmp_path / "lat.dcm", PatientAge="003Y", ViewPosition="LL"))
    assert quality.check_xray(lateral).code == "lateral_view"
