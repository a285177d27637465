"""How long after a C-STORE does a film's row appear? ``pneumo-scan receive`` with the bundled model.

Starts ``pneumo-scan receive`` on a free loopback port (its own user data folder in a temporary
folder), sends real chest films from ../shared/dicom with a pynetdicom SCU, and times each C-STORE
and the wait from its response until the film's row is in the CSV. Stops the receiver with SIGINT.

    python benchmarks/receive_latency.py [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan_bench import cpu_summary

FILMS = ("dx_chest_mono2_8bit_implicit_le.dcm", "dx_chest_pa_mono1_12bit_j2k_lossless.dcm")


def rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return list(csv.DictReader(fh))
    except (OSError, csv.Error):
        return []


def main() -> int:
    from pydicom import dcmread
    from pynetdicom import AE

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model-dir", type=Path)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("PNEUMO_SHARED", "../shared")))
    args = ap.parse_args()
    print(cpu_summary())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "received.csv"
        env = dict(os.environ, PNEUMO_DATA_DIR=str(Path(tmp) / "data"))
        cmd = [sys.executable, "-m", "pneumo_desktop.cli", "receive", "--port", str(port), "--csv", str(out)]
        if args.model_dir:
            cmd += ["--model-dir", str(args.model_dir)]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
        for line in proc.stderr:
            if "Receiving as" in line:
                print(line.strip())
                break
        print(f"listening {time.monotonic() - t0:.1f} s after the start (model loaded first)")
        try:
            for name in FILMS:
                ds = dcmread(args.shared / "dicom" / name)
                ae = AE("XRAY1")
                ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
                assoc = ae.associate("127.0.0.1", port, ae_title="PNEUMO")
                t = time.monotonic()
                status = assoc.send_c_store(ds).Status
                assoc.release()
                sent = time.monotonic()
                while not any(ds.SOPInstanceUID in r["path"] for r in rows(out)):
                    if time.monotonic() - sent > 120:
                        raise SystemExit("no row within 120 s")
                    time.sleep(0.05)
                print(
                    f"{name} ({ds.Rows} x {ds.Columns}, {ds.file_meta.TransferSyntaxUID.name}): C-STORE "
                    f"{sent - t:.2f} s (status 0x{status:04X}), row {time.monotonic() - sent:.2f} s after the response"
                )
        finally:
            proc.send_signal(signal.SIGINT)
            print(f"SIGINT: exit code {proc.wait(120)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
