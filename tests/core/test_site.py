"""Site calibration: the card's threshold rule, profiles (round trip, append-only, model guard), the
threshold in force, and ``pneumo-scan calibrate`` / ``--site`` on real validation films."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pneumo_desktop.cli import main
from pneumo_desktop.core import stats
from pneumo_desktop.core.results import ERROR, OK, REJECTED, ScanResult
from pneumo_desktop.core.site import (
    LabelledFilm,
    ProfileStore,
    SiteError,
    calibrate,
    read_labelled,
)
from pneumo_desktop.core.threshold import CARD, SITE, USER, resolve_threshold

MODEL = SimpleNamespace(name="m", version="1.0", sha256="ab" * 32, threshold=0.7)


# -- the threshold rule (hand-computed) -----------------------------------------------------------


def test_wilson_rule_hand_case():
    # 4 positives at 0.9, 0.8, 0.7, 0.6; z = 1.6449 (one-sided 95%), z^2 = 2.7055.
    # LB(4 of 4) = 4 / (4 + z^2) = 0.5965 >= 0.5; LB(3 of 4) = (0.75 + z^2/8 - z*sqrt(0.75*0.25/4 + z^2/64))
    #   / (1 + z^2/4) = (1.0882 - 0.4911) / 1.6764 = 0.3562 < 0.5. So all 4 must be flagged: t = 0.6.
    y = [1, 1, 1, 1, 0, 0]
    p = [0.9, 0.8, 0.7, 0.6, 0.65, 0.1]
    assert stats.wilson_lower_bound(4, 4) == pytest.approx(0.5965, abs=1e-4)
    assert stats.wilson_lower_bound(3, 4) == pytest.approx(0.3562, abs=1e-4)
    assert stats.threshold_for_sensitivity(y, p, 0.5, 0.95) == 0.6
    # Without the bound, 2 of 4 reach 0.5: t = 0.8.
    assert stats.threshold_for_sensitivity(y, p, 0.5) == 0.8


def test_positives_needed_closed_form():
    # At 100% observed sensitivity the lower bound is n / (n + z^2): >= 0.95 iff n >= 0.95 z^2 / 0.05 = 51.4.
    assert stats.wilson_lower_bound(52, 52) == pytest.approx(52 / (52 + 1.6448536**2), abs=1e-6)
    assert stats.positives_needed(0.95) == 52
    assert stats.positives_needed(0.90) == 25  # 0.9 * 2.7055 / 0.1 = 24.3
    assert not stats.sensitivity_bound_reachable(51, 0.95, 0.95)
    assert stats.sensitivity_bound_reachable(52, 0.95, 0.95)


def test_wilson_interval_and_predictive_values_hand_cases():
    lo, hi = stats.wilson_interval(9, 10)  # the textbook 95% Wilson interval of 9/10
    assert (lo, hi) == (pytest.approx(0.5958, abs=1e-4), pytest.approx(0.9821, abs=1e-4))
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))
    ppv, npv = stats.predictive_values(0.9, 0.8, 0.1)  # 0.09 / 0.27 and 0.72 / 0.73
    assert ppv == pytest.approx(1 / 3) and npv == pytest.approx(0.72 / 0.73)


def test_training_uses_the_core_rule():
    from training import metrics

    assert metrics.threshold_for_sensitivity is stats.threshold_for_sensitivity
    assert metrics.wilson_lower_bound is stats.wilson_lower_bound


# -- calibrate() on results -----------------------------------------------------------------------


def _results(probs: list[float], labels: list[int], extra: list[tuple[str, int]] = ()):
    films, results = [], []
    for i, (p, y) in enumerate(zip(probs, labels, strict=True)):
        path = f"/site/{'PNEUMONIA' if y else 'NORMAL'}/{i}.png"
        films.append(LabelledFilm(path, bool(y)))
        results.append(ScanResult(path, OK, p, "", "", content_hash=f"h{i}"))
    for j, (status, y) in enumerate(extra):
        path = f"/site/x{j}.png"
        films.append(LabelledFilm(path, bool(y)))
        results.append(
            ScanResult(
                path,
                status,
                0.99 if status == REJECTED else None,
                "",
                "",
                reason_code="out_of_distribution" if status == REJECTED else "corrupt",
            )
        )
    return results, films


def test_calibrate_counts_and_refused_films():
    rng = np.random.default_rng(0)
    pos = list(rng.uniform(0.5, 1.0, 80))
    neg = list(rng.uniform(0.0, 0.8, 70))
    results, films = _results(pos + neg, [1] * 80 + [0] * 70, [(REJECTED, 1), (REJECTED, 0), (ERROR, 1)])
    cal = calibrate(results, films, 0.95, card_auc=0.99)
    assert (cal.n_pos, cal.n_neg, cal.n_refused, cal.n_unreadable) == (80, 70, 2, 1)
    assert cal.threshold == stats.threshold_for_sensitivity([1] * 80 + [0] * 70, pos + neg, 0.95, 0.95)
    assert cal.tp + cal.fn == 80 and cal.tn + cal.fp == 70
    assert (
        cal.sensitivity == cal.tp / 80 and cal.sensitivity_ci[0] <= cal.sensitivity <= cal.sensitivity_ci[1]
    )
    assert cal.prevalence == pytest.approx(80 / 150) and not cal.prevalence_given
    assert (cal.ppv, cal.npv) == pytest.approx(
        stats.predictive_values(cal.sensitivity, cal.specificity, 80 / 150)
    )
    assert cal.bound_reachable
    assert cal.auc_ci[0] <= cal.auc <= cal.auc_ci[1]
    assert any("far below the model card" in w for w in cal.warnings)  # AUC ~0.87 vs the card's 0.99
    text = "\n".join(cal.report_lines())
    assert "positive predictive value (PPV)" in text and "negative predictive value (NPV)" in text
    assert "2 films the quality gate refused" in text and "1 unreadable file." in text
    given = calibrate(results, films, 0.95, prevalence=0.1)
    assert given.prevalence == 0.1 and given.prevalence_given and given.ppv < cal.ppv


def test_calibrate_warns_when_the_target_cannot_be_supported():
    results, films = _results([0.9, 0.8, 0.3, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0, 0])
    cal = calibrate(results, films, 0.95)
    assert not cal.bound_reachable and cal.threshold == 0.3 and cal.sensitivity == 1.0
    assert any("cannot support" in w and "52 pneumonia films" in w for w in cal.warnings)


def test_calibrate_without_the_margin():
    results, films = _results([0.9, 0.8, 0.3, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0, 0])
    cal = calibrate(results, films, 0.6, confidence=None)  # 2 of 3 reach 0.6: t = 0.8
    assert cal.threshold == 0.8 and cal.confidence is None and cal.bound_reachable
    assert "without the model card's confidence margin" in "\n".join(cal.report_lines())
    assert "reached with 95% confidence" in "\n".join(calibrate(results, films, 0.6).report_lines())


def test_calibrate_needs_both_kinds():
    results, films = _results([0.9, 0.8], [1, 1])
    with pytest.raises(SiteError, match="both kinds"):
        calibrate(results, films)


def test_file_list_hash_ignores_where_the_films_are():
    a, fa = _results([0.9, 0.2], [1, 0])
    b = [
        ScanResult(
            "/elsewhere/" + r.path.rsplit("/", 1)[1], OK, r.probability, "", "", content_hash=r.content_hash
        )
        for r in a
    ]
    fb = [LabelledFilm(r.path, f.positive) for r, f in zip(b, fa, strict=True)]
    assert calibrate(a, fa).file_list_hash == calibrate(b, fb).file_list_hash


# -- labelled sets ----------------------------------------------------------------------------------


def test_read_labelled_folder_and_csv(tmp_path: Path):
    (tmp_path / "set" / "normal").mkdir(parents=True)
    (tmp_path / "set" / "PNEUMONIA" / "sub").mkdir(parents=True)
    (tmp_path / "set" / "normal" / "a.png").write_bytes(b"x")
    (tmp_path / "set" / "PNEUMONIA" / "sub" / "b.png").write_bytes(b"x")
    films = read_labelled(tmp_path / "set")
    assert sorted((Path(f.path).name, f.positive) for f in films) == [("a.png", False), ("b.png", True)]
    listing = tmp_path / "labels.csv"
    listing.write_text("path,label\nset/normal/a.png,NORMAL\n/abs/c.png,1\n\n", encoding="utf-8")
    films = read_labelled(listing)
    assert films == [
        LabelledFilm(str(tmp_path / "set/normal/a.png"), False),
        LabelledFilm("/abs/c.png", True),
    ]
    listing.write_text("a.png,maybe\nb.png,maybe\n", encoding="utf-8")
    with pytest.raises(SiteError, match="neither"):
        read_labelled(listing)
    (tmp_path / "flat").mkdir()
    with pytest.raises(SiteError, match="NORMAL and PNEUMONIA"):
        read_labelled(tmp_path / "flat")


# -- profiles ---------------------------------------------------------------------------------------


def _cal(threshold_shift: float = 0.0):
    results, films = _results([0.9 - threshold_shift, 0.8, 0.3, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0, 0])
    return calibrate(results, films, 0.9, bootstrap=50)


def test_profile_round_trip(tmp_path: Path):
    store = ProfileStore(tmp_path)
    cal = _cal()
    profile = store.add("Clinic A", cal, MODEL, source="/films", user="nurse")
    again = store.latest("clinic a")  # names are matched without case
    assert again == profile
    assert (again.site, again.version, again.user, again.model_sha256) == (
        "Clinic A",
        1,
        "nurse",
        MODEL.sha256,
    )
    assert again.threshold == cal.threshold and again.n_pos == 3 and again.n_neg == 3
    assert again.metrics["sensitivity"] == cal.sensitivity and again.roc == cal.roc
    assert again.file_list_hash == cal.file_list_hash and again.created[:4].isdigit()
    assert store.sites() == ["Clinic A"]
    store.set_active("Clinic A")
    assert store.active() == profile
    store.set_active(None)
    assert store.active() is None
    (tmp_path / "active.json").write_text('{"site": "../../etc"}', encoding="utf-8")
    assert store.active() is None


def test_profiles_are_append_only(tmp_path: Path):
    store = ProfileStore(tmp_path)
    v1 = store.add("Clinic A", _cal(), MODEL)
    first = (tmp_path / "clinic_a" / "v0001.json").read_bytes()
    v2 = store.add("Clinic A", _cal(0.05), MODEL)
    assert (v1.version, v2.version) == (1, 2)
    assert (tmp_path / "clinic_a" / "v0001.json").read_bytes() == first  # untouched
    assert [p.version for p in store.versions("Clinic A")] == [1, 2]
    assert store.latest("Clinic A") == v2
    with pytest.raises(SiteError):
        store.add("../escape", _cal(), MODEL)


def test_threshold_in_force_precedence_and_version_guard(tmp_path: Path):
    profile = ProfileStore(tmp_path).add("Clinic A", _cal(), MODEL)
    assert resolve_threshold(MODEL).source == CARD and resolve_threshold(MODEL).value == 0.7
    site = resolve_threshold(MODEL, profile)
    assert site.source == SITE and site.value == profile.threshold and "'Clinic A' v1" in site.describe()
    user = resolve_threshold(MODEL, profile, 0.42)
    assert user.source == USER and user.value == 0.42 and "would give" in user.describe()
    other = SimpleNamespace(name="m", version="2.0", sha256="cd" * 32, threshold=0.6)
    guarded = resolve_threshold(other, profile)
    assert guarded.source == CARD and guarded.value == 0.6 and guarded.profile is None
    assert "calibrated for model m 1.0, not m 2.0" in guarded.note and guarded.note in guarded.describe()
    reweighted = SimpleNamespace(name="m", version="1.0", sha256="ef" * 32, threshold=0.6)
    assert "other weights" in resolve_threshold(reweighted, profile).note


# -- the command line on real validation films --------------------------------------------------------


@pytest.fixture
def labelled_set(shared_dir: Path, tmp_path: Path) -> Path:
    """6 + 6 validation films of the shipped data, linked into NORMAL/ and PNEUMONIA/."""
    val = shared_dir / "data" / "chest_xray_224sq" / "val"
    if not val.is_dir():
        pytest.skip(f"{val} missing")
    root = tmp_path / "clinic"
    for cls in ("NORMAL", "PNEUMONIA"):
        (root / cls).mkdir(parents=True)
        for src in sorted((val / cls).iterdir())[:6]:
            (root / cls / src.name).symlink_to(src)
    return root


def test_cli_calibrate_then_scan_with_site(tiny_model_dir, labelled_set, tmp_path, capsys):
    store = tmp_path / "results.sqlite3"
    common = ["--model-dir", str(tiny_model_dir), "--store", str(store), "-q"]
    assert (
        main(
            [
                "calibrate",
                str(labelled_set),
                "--site",
                "Clinic A",
                "--target-sensitivity",
                "0.8",
                "--prevalence",
                "0.2",
                *common,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Films counted: 12 (6 with pneumonia, 6 normal)" in out
    assert "positive predictive value (PPV)" in out and "negative predictive value (NPV)" in out
    assert "At a prevalence of 20.0% (the clinic's figure)" in out
    assert "cannot support a sensitivity of 0.80" in out  # 6 positives: the bound cannot reach 0.8
    assert "Saved as site profile 'Clinic A' v1" in out
    profile = ProfileStore().latest("Clinic A")
    assert profile is not None and profile.model_name == "tiny-test-model"

    # A rerun reads the stored results and adds a version; v1 stays.
    assert main(["calibrate", str(labelled_set), "--site", "Clinic A", *common]) == 0
    assert "'Clinic A' v2" in capsys.readouterr().out
    assert [p.version for p in ProfileStore().versions("Clinic A")] == [1, 2]
    site_threshold = ProfileStore().latest("Clinic A").threshold

    # Without the Wilson margin, and without saving: no new version.
    assert (
        main(
            ["calibrate", str(labelled_set), "--site", "Clinic A", "--confidence", "0", "--no-save", *common]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "without the model card's confidence margin" in out and "Not saved" in out
    assert [p.version for p in ProfileStore().versions("Clinic A")] == [1, 2]

    out_csv = tmp_path / "r.csv"
    assert main([str(labelled_set / "NORMAL"), "--site", "Clinic A", "--csv", str(out_csv), *common]) == 0
    summary = capsys.readouterr().out
    assert "site profile 'Clinic A' v2" in summary
    with open(out_csv, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["threshold"] for r in rows if r["status"] == "ok"} == {f"{site_threshold:.4f}"}

    # --threshold still wins; an unknown site is a usage error.
    assert (
        main(
            [
                str(labelled_set / "NORMAL"),
                "--site",
                "Clinic A",
                "--threshold",
                "0.5",
                "--csv",
                str(out_csv),
                *common,
            ]
        )
        == 0
    )
    assert "overrides site profile" in capsys.readouterr().err
    assert main([str(labelled_set), "--site", "Nowhere", *common]) == 2


def test_cli_site_made_for_another_model_is_not_applied(tiny_model_dir, labelled_set, tmp_path, capsys):
    ProfileStore().add("Clinic B", _cal(), MODEL)  # made for model "m 1.0"
    out_csv = tmp_path / "r.csv"
    assert (
        main(
            [
                str(labelled_set / "NORMAL"),
                "--site",
                "Clinic B",
                "--csv",
                str(out_csv),
                "--model-dir",
                str(tiny_model_dir),
                "-q",
                "--store",
                str(tmp_path / "s.sqlite3"),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "calibrated for model m 1.0, not tiny-test-model 0.0.1" in captured.err
    with open(out_csv, encoding="utf-8-sig", newline="") as fh:
        assert {r["threshold"] for r in csv.DictReader(fh) if r["status"] == "ok"} == {"0.5000"}  # the card's


def test_cli_calibrate_usage_errors(tiny_model_dir, tmp_path, capsys):
    (tmp_path / "flat").mkdir()
    assert main(["calibrate", str(tmp_path / "flat"), "--site", "A", "--model-dir", str(tiny_model_dir)]) == 2
    assert "NORMAL and PNEUMONIA" in capsys.readouterr().err
    assert main(["calibrate", str(tmp_path / "flat"), "--site", "A", "--target-sensitivity", "1.5"]) == 2


def test_cli_calibrate_early_exits_leave_no_decoder_process(labelled_set, tmp_path, capsys):
    """The decoder processes start before the model loads; a model that cannot be opened (exit 3)
    must not leave them behind."""
    import multiprocessing

    args = ["calibrate", str(labelled_set), "--site", "A", "--store", str(tmp_path / "s.db"), "-q"]
    assert main([*args, "--model-dir", str(tmp_path / "no-model")]) == 3
    assert "pneumo-scan calibrate:" in capsys.readouterr().err
    assert multiprocessing.active_children() == []


def test_a_folder_named_calibrate_is_still_scanned(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from PIL import Image

    (tmp_path / "calibrate").mkdir()
    Image.fromarray((np.random.default_rng(1).random((150, 150)) * 255).astype(np.uint8)).save(
        tmp_path / "calibrate" / "a.png"
    )
    monkeypatch.chdir(tmp_path)
    assert (
        main(["calibrate", "--model-dir", str(tiny_model_dir), "-q", "--store", str(tmp_path / "s.db")]) == 0
    )
    assert "Scanned 1 files" in capsys.readouterr().out


def test_profile_json_is_plain(tmp_path: Path):
    ProfileStore(tmp_path).add("Clinic A", _cal(), MODEL, user="nurse")
    data = json.loads((tmp_path / "clinic_a" / "v0001.json").read_text(encoding="utf-8"))
    for key in (
        "created",
        "model_version",
        "model_sha256",
        "file_list_hash",
        "n_pos",
        "n_neg",
        "metrics",
        "threshold",
        "user",
    ):
        assert key in data
