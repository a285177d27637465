"""Peak memory of the DICOM receiver while a huge film arrives (it should be spooled to disk).

Runs a :class:`~pneumo_desktop.net.scp.StorageReceiver` in a child process on a free loopback port,
sends it a synthetic 16-bit Secondary Capture of ``--megapixels`` MP from this process, and prints the
child's peak resident memory before and after.

    python benchmarks/receive_memory.py [--megapixels 64]
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan_bench import cpu_summary  # noqa: E402

CHILD = """
import resource, signal, sys, threading
from pathlib import Path
from pneumo_desktop.net.scp import ReceiverConfig, StorageReceiver
r = StorageReceiver(ReceiverConfig(port=int(sys.argv[1]), folder=Path(sys.argv[2])))
r.start()
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
print("ready", flush=True)
stop.wait(600)
r.stop()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"receiver peak RSS: {start / 1024:.0f} MB listening, {peak / 1024:.0f} MB after; stored {r.stats.stored}")
"""


def main() -> int:
    from pynetdicom import AE

    from tests.net.test_scp import huge_film

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--megapixels", type=int, default=64)
    args = ap.parse_args()
    print(cpu_summary())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        # The child first: Linux keeps a process's peak RSS across exec, so it must not inherit ours.
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(port), tmp], stdout=subprocess.PIPE, text=True, cwd=REPO
        )
        try:
            assert child.stdout.readline().strip() == "ready"
            ds = huge_film(args.megapixels)
            ae = AE("XRAY1")
            ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
            assoc = ae.associate("127.0.0.1", port, ae_title="PNEUMO")
            status = assoc.send_c_store(ds).Status
            assoc.release()
            print(f"sent {len(ds.PixelData) / 2**20:.0f} MiB of pixel data: status 0x{status:04X}")
        finally:
            child.send_signal(signal.SIGTERM)
            print(child.stdout.read().strip())
            child.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
