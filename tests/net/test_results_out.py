"""Results back to a PACS: our SR and SC sent to a test SCP on 127.0.0.1, re-read with pydicom and checked."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pneumo_desktop.cli import main
from pneumo_desktop.core.results import ERROR, REJECTED
from pneumo_desktop.net.results_out import (
    COMPREHENSIVE_SR,
    DISCLAIMER,
    SECONDARY_CAPTURE,
    DicomNode,
    export_results,
    heatmap_source,
)
from tests.conftest import child_copy
from tests.net.dicom_fixtures import CHEST_8BIT, CHEST_J2K

pytestmark = pytest.mark.real_data


@pytest.fixture
def pacs(monkeypatch):
    """A test Storage SCP for SR and Secondary Capture on a free loopback port; always stopped."""
    from pynetdicom import AE, _config, evt

    monkeypatch.setattr(_config, "STORE_RECV_CHUNKED_DATASET", False)
    got: list = []

    def on_store(event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        got.append(ds)
        return 0x0000

    ae = AE("TESTPACS")
    ae.add_supported_context(COMPREHENSIVE_SR)
    ae.add_supported_context(SECONDARY_CAPTURE)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        yield DicomNode("TESTPACS", "127.0.0.1", int(server.server_address[1])), got
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def scanned(tiny_model_dir, dicom_dir, tmp_path_factory):
    """Two real chest films scanned by the tiny model: (predictor, results, source headers)."""
    from pydicom import dcmread

    from pneumo_desktop.core.model import Predictor
    from pneumo_desktop.core.scan import Scanner

    folder = tmp_path_factory.mktemp("films")
    for name in (CHEST_8BIT, CHEST_J2K):
        child_copy(dicom_dir / name, folder)  # children: judged (the gate refuses the adults they are)
    (folder / "notes.png").write_bytes(b"not an image")
    predictor = Predictor(tiny_model_dir)
    results = Scanner(predictor).scan_all([folder])
    sources = {r.path: dcmread(r.path, stop_before_pixels=True) for r in results if r.format == "DICOM"}
    return predictor, results, sources


def sr_items(sr) -> dict[str, object]:
    """Concept meaning -> value of the SR's top-level content items."""
    out: dict[str, object] = {}
    for item in sr.ContentSequence:
        name = item.ConceptNameCodeSequence[0].CodeMeaning
        kind = item.ValueType
        if kind == "TEXT":
            out[name] = item.TextValue
        elif kind == "NUM":
            out[name] = float(item.MeasuredValueSequence[0].NumericValue)
        elif kind == "CODE":
            out[name] = item.ConceptCodeSequence[0].CodeMeaning
        elif kind == "IMAGE":
            out[name] = item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    return out


def test_sr_and_sc_sent_to_a_pacs_in_the_films_study(scanned, pacs, tmp_path):
    predictor, results, sources = scanned
    node, got = pacs
    judged = [r for r in results if r.format == "DICOM"]
    assert len(judged) == 2 and all(r.status != ERROR for r in judged)
    report = export_results(
        results, out_dir=tmp_path / "out", node=node, calling_aet="PNEUMO", heatmaps=heatmap_source(predictor)
    )
    assert [name for name, _ in report.skipped] == ["notes.png"]
    assert len(report.sent) == report.made == len(report.written) == len(got)
    assert all(s.ok for s in report.sent)
    from pydicom import dcmread

    written = [dcmread(p) for p in report.written]
    for copy in (got, written):  # what the PACS received, and what was saved
        srs = [d for d in copy if d.SOPClassUID == COMPREHENSIVE_SR]
        scs = [d for d in copy if d.SOPClassUID == SECONDARY_CAPTURE]
        assert len(srs) == 2
        assert len(scs) == sum(r.status == "ok" for r in judged) >= 1
        for r in judged:
            src = sources[r.path]
            (sr,) = [d for d in srs if sr_items(d)["Source of Measurement"] == src.SOPInstanceUID]
            assert sr.StudyInstanceUID == src.StudyInstanceUID
            assert sr.PatientID == src.PatientID
            assert sr.SeriesInstanceUID != src.SeriesInstanceUID
            evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
            assert evidence.StudyInstanceUID == src.StudyInstanceUID
            refs = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence
            assert refs[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
            items = sr_items(sr)
            assert items["Probability of pneumonia"] == pytest.approx(r.probability, abs=1e-4)
            assert items["Decision threshold"] == pytest.approx(r.threshold, abs=1e-4)
            assert items["Algorithm Name"] == "tiny-test-model" and items["Algorithm Version"] == "0.0.1"
            assert items["Comment"] == DISCLAIMER and "Decision support only" in DISCLAIMER
            assert items["Finding"] == r.label
            assert sr.VerificationFlag == "UNVERIFIED" and sr.PreliminaryFlag == "PRELIMINARY"
            if r.status == REJECTED:
                assert r.message in items["Reason not judged"]
        for sc in scs:
            ref = sc.SourceImageSequence[0].ReferencedSOPInstanceUID
            src = next(s for s in sources.values() if s.SOPInstanceUID == ref)
            assert sc.StudyInstanceUID == src.StudyInstanceUID
            assert sc.BurnedInAnnotation == "YES" and sc.PhotometricInterpretation == "RGB"
            assert (sc.Rows, sc.Columns) == (src.Rows, src.Columns)
            assert sc.pixel_array.shape == (src.Rows, src.Columns, 3)


def test_a_refused_film_gets_an_sr_with_the_reason(scanned, tmp_path):
    _, results, sources = scanned
    film = next(r for r in results if r.format == "DICOM")
    refused = replace(
        film, status=REJECTED, label="Needs review", message="The film is rotated.", reason_code="rot"
    )
    report = export_results([refused], out_dir=tmp_path)
    from pydicom import dcmread

    (sr,) = [dcmread(p) for p in report.written]
    items = sr_items(sr)
    assert items["Finding"] == "Needs review"
    assert items["Reason not judged"] == "The film is rotated. (rot)"
    assert sr.StudyInstanceUID == sources[film.path].StudyInstanceUID


def test_a_film_changed_since_its_scan_gets_no_result(scanned, tmp_path):
    _, results, _ = scanned
    film = next(r for r in results if r.format == "DICOM")
    copy = tmp_path / "film.dcm"
    shutil.copy(film.path, copy)
    with open(copy, "ab") as fh:
        fh.write(b"\0\0")
    report = export_results([replace(film, path=str(copy))], out_dir=tmp_path / "out")
    assert report.made == 0 and "changed" in report.skipped[0][1]


def test_an_unreachable_node_is_an_outcome_not_an_exception(scanned):
    import socket

    _, results, _ = scanned
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = export_results(results, node=DicomNode("NOBODY", "127.0.0.1", port))
    assert report.sent and all(s.status is None and s.message for s in report.sent)


def test_node_parsing():
    assert DicomNode.parse("PACS@192.168.1.20:104") == DicomNode("PACS", "192.168.1.20", 104)
    assert str(DicomNode.parse("ORTHANC@[::1]:4242")) == "ORTHANC@::1:4242"
    for bad in (
        "PACS",
        "PACS@host",
        "@host:104",
        "PACS@host:port",
        "PACS@host:0",
        "A-VERY-LONG-AE-TITLE@h:1",
    ):
        with pytest.raises(ValueError):
            DicomNode.parse(bad)


def test_pneumo_scan_send_to_and_dicom_out(tiny_model_dir, dicom_dir, pacs, tmp_path):
    """The README's command: ``pneumo-scan FILM.dcm --dicom-out results/ --send-to PACS@HOST:PORT``."""
    node, got = pacs
    out = tmp_path / "dicom-results"
    film = dicom_dir / CHEST_8BIT
    args = [str(film), "--dicom-out", str(out), "--send-to", str(node), "--dicom-sc", "--model-dir",
            str(tiny_model_dir), "--store", str(tmp_path / "s.sqlite3"), "-q"]  # fmt: skip
    assert main(args) == 0
    assert len(list(out.glob("*.dcm"))) == len(got) >= 1
    assert {str(d.SOPClassUID) for d in got} <= {COMPREHENSIVE_SR, SECONDARY_CAPTURE}
    # Nobody listening: exit code 6, the scan's own outputs are still written.
    got.clear()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    csv = tmp_path / "r.csv"
    args = [str(film), "--csv", str(csv), "--send-to", f"NOBODY@127.0.0.1:{port}", "--model-dir",
            str(tiny_model_dir), "--store", str(tmp_path / "s.sqlite3"), "-q"]  # fmt: skip
    assert main(args) == 6
    assert csv.is_file()
    with pytest.raises(SystemExit) as exc:
        main([str(film), "--send-to", "not-a-node"])
    assert exc.value.code == 2


def test_results_leave_the_source_folder_alone(scanned, tmp_path):
    _, results, _ = scanned
    folder = Path(next(r for r in results if r.format == "DICOM").path).parent
    before = sorted(p.name for p in folder.iterdir())
    export_results(results, out_dir=tmp_path / "elsewhere")
    assert sorted(p.name for p in folder.iterdir()) == before


def test_no_patient_name_in_logs_or_warnings_while_making_results(scanned, tmp_path, caplog):
    """highdicom warns about single-component person names by quoting them: none may escape."""
    import logging
    import warnings

    _, results, sources = scanned
    film = next(r for r in results if r.name == CHEST_8BIT)  # PatientName "Covid0000": one component
    name = str(sources[film.path].PatientName)
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = export_results([film], out_dir=tmp_path)
    assert report.made == 1
    assert name not in caplog.text
    assert not [w for w in caught if name in str(w.message)]
