"""Every phrase and number format the user sees (core.wording, Qt-free)."""

from __future__ import annotations

import pytest

from pneumo_desktop.core import wording as w


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0, "< 0.1 %"),
        (0.0004, "< 0.1 %"),
        (0.0005, "0.1 %"),
        (0.934, "93.4 %"),
        (0.9995, "> 99.9 %"),
        (1.0, "> 99.9 %"),
        (None, "–"),
    ],
)
def test_percent_never_claims_certainty(p, text) -> None:
    assert w.format_percent(p) == text


def test_the_probability_is_always_named() -> None:
    assert w.probability_phrase(0.934) == "pneumonia probability 93.4 %"
    assert w.probability_phrase(0.0001, capital=True) == "Pneumonia probability < 0.1 %"
    assert w.result_headline("Normal", 0.0001, judged=True) == "Normal · pneumonia probability < 0.1 %"
    assert (
        w.result_headline("Needs review", 0.997, judged=False) == "Needs review"
    )  # no number for refused films


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.8", 0.8), ("80%", 0.8), ("80 %", 0.8), (".5", 0.5), ("0", 0.0), ("1", 1.0), ("12.5%", 0.125)],
)
def test_threshold_accepts_fractions_and_percent(text, value) -> None:
    assert w.parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["80", "1.5", "150%", "abc", "", "-0.2"])
def test_threshold_refuses_ambiguous_or_out_of_range(text) -> None:
    with pytest.raises(w.ThresholdError):
        w.parse_threshold(text)


def test_threshold_in_force_and_its_source() -> None:
    assert w.threshold_text(w.threshold_in_force(0.42, 0.42)) == "threshold 42.0 % (model card)"
    assert w.threshold_text(w.threshold_in_force(0.3, 0.42)) == "threshold 30.0 % (set at this site)"
    assert w.threshold_text(w.threshold_in_force(None, 0.42)) == "threshold 42.0 % (model card)"
    assert (
        w.threshold_text(w.threshold_in_force(0.3, None, override="--threshold"))
        == "threshold 30.0 % (--threshold)"
    )


@pytest.mark.parametrize(
    ("age", "born", "studied", "text"),
    [
        ("003Y", "", "", "3 years"),
        ("001Y", "", "", "1 year"),
        ("018M", "", "", "18 months"),
        ("081", "", "", "81 (unit not recorded)"),
        ("81", "", "", "81 (unit not recorded)"),
        ("000Y", "", "", "under 1 year"),
        ("", "19570101", "20040831", "47 years (from the birth date)"),
        ("", "20230115", "20240301", "13 months (from the birth date)"),
        ("", "19000101", "20040831", "Not recorded"),
        ("", "00000000", "20150929", "Not recorded"),
        ("", "d14a028c2a3a", "", "Not recorded"),
        ("", "", "", "Not recorded"),
    ],
)
def test_ages_in_the_wild(age, born, studied, text) -> None:
    assert w.format_age(age, born, studied) == text


def test_dates_and_names() -> None:
    assert w.format_date("20040826") == "2004-08-26"
    assert w.format_date("1995.05.01") == "1995-05-01"
    assert w.format_date("") == "–"
    assert w.format_person_name("Doe^Jane^^Dr") == "Doe Jane Dr"


def test_review_status_words() -> None:
    assert w.review_status(None) == "Not yet reviewed"
    assert w.review_status(w.AGREE, "J. Smith").startswith("Agreed (J. Smith")
    assert w.review_status(w.DISAGREE, "J. Smith", "Normal") == "Disagreed: Normal (J. Smith)"


def test_the_cards_threshold_kept_to_four_decimals_is_still_the_cards() -> None:
    assert w.threshold_in_force(0.7849, 0.78491234).source == "model card"
    assert w.threshold_value(w.threshold_in_force(0.785, 0.78491234)) == "78.5 % (set at this site)"


def test_one_disclaimer_everywhere() -> None:
    """Every face says the same disclaimer: the DICOM objects' and the CLIs' are built from it (#18)."""
    import pathlib

    from pneumo_desktop.net import result_objects

    assert w.DISCLAIMER_DICOM.startswith(w.DISCLAIMER)
    assert result_objects.DISCLAIMER == w.DISCLAIMER_DICOM
    root = pathlib.Path(w.__file__).resolve().parents[1]
    copies = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "wording.py" and w.DISCLAIMER in p.read_text(encoding="utf-8")
    ]
    assert copies == []
    assert w.DATASET_LICENCE_URL in w.DATASET_CREDIT and "Kermany" in w.DATASET_CREDIT


def test_device_and_precision_words_cover_the_one_list() -> None:
    from pneumo_desktop.core.model import DEVICES, PRECISIONS

    assert tuple(w.DEVICE_WORDS) == DEVICES and tuple(w.PRECISION_WORDS) == PRECISIONS


def test_flagged_is_defined_once() -> None:
    from pneumo_desktop.core.results import LABELS, NEEDS_REVIEW, NORMAL, PNEUMONIA, UNREADABLE, is_flagged

    assert [label for label in LABELS if is_flagged(label)] == [PNEUMONIA, NEEDS_REVIEW]
    assert not is_flagged(NORMAL) and not is_flagged(UNREADABLE)


def test_heatmap_words_are_the_wording_modules() -> None:
    from pneumo_desktop.core import heatmap

    assert heatmap.heatmap_caveat() == w.HEATMAP_CAVEAT
    assert (heatmap.LEGEND_LOW, heatmap.LEGEND_HIGH) == w.HEATMAP_LEGEND
