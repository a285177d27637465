"""Building DICOM test media from the real files in ../shared/dicom (never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

#: Small real chest films (1 MB implicit VR SC; 1.8 MB JPEG 2000 lossless DX).
CHEST_8BIT = "dx_chest_mono2_8bit_implicit_le.dcm"
CHEST_J2K = "dx_chest_mono2_16bit_j2k_lossless.dcm"
SR_FILE = "sr_comprehensive_no_pixel_data.dcm"


def chest_dataset(dicom_dir: Path, name: str, patient_id: str):
    """A shared chest film with the elements a DICOMDIR record needs filled in."""
    from pydicom import dcmread

    ds = dcmread(dicom_dir / name)
    ds.PatientID = patient_id
    for keyword, value in (
        ("StudyDate", "20240105"),
        ("StudyTime", "101500"),
        ("StudyID", "1"),
        ("AccessionNumber", ""),
        ("SeriesNumber", 1),
        ("InstanceNumber", 1),
    ):
        if not ds.get(keyword):
            setattr(ds, keyword, value)
    return ds


def build_cd(dicom_dir: Path, root: Path) -> dict[str, object]:
    """A DICOMDIR file-set like an X-ray machine writes to a CD: two patients, two chest films, and an
    SR in the first film's study (which must not get a row). Returns the source datasets by role."""
    from pydicom import dcmread
    from pydicom.fileset import FileSet

    first = chest_dataset(dicom_dir, CHEST_8BIT, "PAT-A")
    second = chest_dataset(dicom_dir, CHEST_J2K, "PAT-B")
    sr = dcmread(dicom_dir / SR_FILE)
    sr.PatientID = first.PatientID
    sr.StudyInstanceUID = first.StudyInstanceUID
    sr.StudyDate, sr.StudyTime, sr.StudyID = first.StudyDate, first.StudyTime, first.StudyID
    sr.AccessionNumber = ""
    fs = FileSet()
    for ds in (first, second, sr):
        fs.add(ds)
    fs.write(root)
    return {"first": first, "second": second, "sr": sr}
