"""The Storage SCP on 127.0.0.1: a pynetdicom SCU sends real chest films; refusals are statuses, never crashes."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pneumo_desktop.net.scp import OUT_OF_RESOURCES, ReceiverConfig, StorageReceiver
from tests.net.dicom_fixtures import CHEST_8BIT, CHEST_J2K, SR_FILE

pytestmark = pytest.mark.real_data

SECRET_NAME = "Doe^Janet-Secret"


@pytest.fixture
def receiver(tmp_path):
    """A receiver on a free loopback port; always stopped."""
    started: list[StorageReceiver] = []

    def make(**kwargs) -> tuple[StorageReceiver, list[str]]:
        arrived: list[str] = []
        config = ReceiverConfig(
            ae_title="PNEUMO", port=0, bind="127.0.0.1", folder=tmp_path / "received", **kwargs
        )
        r = StorageReceiver(config, on_received=arrived.append)
        r.start()
        started.append(r)
        return r, arrived

    yield make
    for r in started:
        r.stop()


def associate(receiver: StorageReceiver, contexts: list[tuple[str, list[str] | None]], aet: str = "XRAY1"):
    from pynetdicom import AE

    ae = AE(ae_title=aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    for sop_class, syntaxes in contexts:
        if syntaxes:
            ae.add_requested_context(sop_class, syntaxes)
        else:
            ae.add_requested_context(sop_class)
    host, port = receiver.address
    return ae.associate(host, port, ae_title="PNEUMO")


def read(dicom_dir: Path, name: str):
    from pydicom import dcmread

    ds = dcmread(dicom_dir / name)
    ds.PatientName = SECRET_NAME
    return ds


def test_echo_and_store_chest_films_in_two_transfer_syntaxes(receiver, dicom_dir, caplog):
    caplog.set_level(logging.DEBUG)
    r, arrived = receiver()
    films = [read(dicom_dir, CHEST_8BIT), read(dicom_dir, CHEST_J2K)]
    contexts = [("1.2.840.10008.1.1", None)] + [
        (ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID]) for ds in films
    ]
    assoc = associate(r, contexts)
    assert assoc.is_established
    try:
        assert assoc.send_c_echo().Status == 0x0000
        for ds in films:
            assert assoc.send_c_store(ds).Status == 0x0000
    finally:
        assoc.release()
    assert [Path(p).name for p in arrived] == [f"{ds.SOPInstanceUID}.dcm" for ds in films]
    from pydicom import dcmread

    for ds, path in zip(films, arrived, strict=True):
        back = dcmread(path)
        assert back.SOPInstanceUID == ds.SOPInstanceUID
        assert back.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
        assert back.pixel_array.shape == ds.pixel_array.shape
    assert not list((r.folder / ".incoming").iterdir())
    assert r.stats.stored == 2 and r.stats.echoes == 1
    assert SECRET_NAME.split("^")[0] not in caplog.text  # no patient data in any log line, at DEBUG


def test_a_non_image_sop_class_is_refused_in_its_presentation_context(receiver, dicom_dir):
    r, arrived = receiver()
    sr = read(dicom_dir, SR_FILE)
    chest = read(dicom_dir, CHEST_8BIT)
    assoc = associate(r, [(sr.SOPClassUID, None), (chest.SOPClassUID, None)])
    assert assoc.is_established
    try:
        accepted = {cx.abstract_syntax for cx in assoc.accepted_contexts}
        assert chest.SOPClassUID in accepted and sr.SOPClassUID not in accepted
        with pytest.raises(ValueError):
            assoc.send_c_store(sr)  # no accepted context: the SCU cannot even send it
    finally:
        assoc.release()
    assert arrived == []


def test_only_allowed_calling_ae_titles(receiver, dicom_dir, caplog):
    caplog.set_level(logging.INFO)
    r, _ = receiver(allowed_aets=("XRAY1",))
    stranger = associate(r, [("1.2.840.10008.1.1", None)], aet="STRANGER")
    assert stranger.is_rejected
    friend = associate(r, [("1.2.840.10008.1.1", None)], aet="XRAY1")
    assert friend.is_established
    friend.release()
    assert "not in the allowed list" in caplog.text


def test_quota_reached_gives_out_of_resources(receiver, dicom_dir, caplog):
    caplog.set_level(logging.INFO)
    r, arrived = receiver(quota_mb=0.5)  # the 8-bit film alone is 1 MB
    ds = read(dicom_dir, CHEST_8BIT)
    assoc = associate(r, [(ds.SOPClassUID, None)])
    try:
        assert assoc.send_c_store(ds).Status == OUT_OF_RESOURCES
        assert assoc.send_c_store(ds).Status == OUT_OF_RESOURCES  # the association stays usable
    finally:
        assoc.release()
    assert arrived == [] and not list(r.folder.glob("*.dcm"))
    assert "0xA700" in caplog.text and "quota" in caplog.text


def huge_film(megapixels: int = 32):
    """A 16-bit Secondary Capture of ``megapixels`` MP (64 MB of pixel data at 32 MP)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    side = int(np.sqrt(megapixels * 1_000_000))
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = SECRET_NAME, "HUGE", "OT"
    ds.Rows = ds.Columns = side
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.random.default_rng(0).integers(0, 4096, (side, side), dtype=np.uint16).tobytes()
    return ds


def test_a_huge_dataset_is_stored_through_a_file_not_memory(receiver, caplog):
    caplog.set_level(logging.INFO)
    r, arrived = receiver()
    ds = huge_film()
    assoc = associate(r, [(ds.SOPClassUID, None)])
    try:
        assert assoc.send_c_store(ds).Status == 0x0000
    finally:
        assoc.release()
    (path,) = arrived
    assert Path(path).stat().st_size > len(ds.PixelData)
    assert "received" in caplog.text and "MB" in caplog.text


def test_a_sender_disconnecting_mid_transfer_leaves_nothing_and_the_receiver_goes_on(
    receiver, dicom_dir, tmp_path, monkeypatch, caplog
):
    import tempfile

    caplog.set_level(logging.INFO)
    temp = tmp_path / "systemp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where pynetdicom spools incoming data sets
    r, arrived = receiver()
    ds = huge_film()
    assoc = associate(r, [(ds.SOPClassUID, None)])
    sender = threading.Thread(target=lambda: _swallow(assoc.send_c_store, ds), daemon=True)
    sender.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(f.stat().st_size > 1_000_000 for f in temp.glob("*.dcm")):
        time.sleep(0.005)
    assoc.dul.socket.close()  # the cable is pulled: no A-ABORT, no release
    sender.join(30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and list(temp.glob("*.dcm")):
        time.sleep(0.05)
    assert arrived == [] and not list(r.folder.glob("*.dcm"))
    assert not list(temp.glob("*.dcm")), "the partial data set was left in the temp folder"
    assert "cut off" in caplog.text or "aborted" in caplog.text
    # The receiver still works.
    film = read(dicom_dir, CHEST_8BIT)
    again = associate(r, [(film.SOPClassUID, None)])
    try:
        assert again.send_c_store(film).Status == 0x0000
    finally:
        again.release()
    assert len(arrived) == 1


def _swallow(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:  # the connection is cut under it on purpose
        pass


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        ReceiverConfig(ae_title="")
    with pytest.raises(ValueError):
        ReceiverConfig(ae_title="WAY-TOO-LONG-AE-TITLE")
    with pytest.raises(ValueError):
        ReceiverConfig(port=70000)
    with pytest.raises(ValueError):
        ReceiverConfig(quota_mb=0)
