"""``pneumo-scan receive`` as a user runs it: a real subprocess, a pynetdicom SCU, SIGINT/SIGTERM to stop."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.net.dicom_fixtures import CHEST_8BIT

pytestmark = pytest.mark.real_data

#: Seconds from the C-STORE response to the film's row in the CSV (the issue: "within a few seconds").
ROW_DEADLINE = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """``pneumo-scan receive`` in a subprocess; its stderr read line by line in a thread."""

    def __init__(self, args: list[str]) -> None:
        code = "import sys; from pneumo_desktop.cli import main; sys.exit(main(sys.argv[1:]))"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, "receive", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        self.err: list[str] = []
        self.out: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)

    def wait_for(self, text: str, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.err):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not seen; stderr:\n{''.join(self.err)[-3000:]}")

    def stop(self, sig: int, timeout: float = 60.0) -> int:
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        for t in self._threads:
            t.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def read_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return list(csv.DictReader(fh))
    except (OSError, csv.Error):
        return []


@pytest.fixture
def pacs():
    """A test Storage SCP for the results sent back (SR), on a free loopback port; always stopped."""
    from pynetdicom import AE, evt

    from pneumo_desktop.net.results_out import COMPREHENSIVE_SR

    got: list[str] = []

    def on_store(event) -> int:
        got.append(str(event.request.AffectedSOPClassUID))
        return 0

    ae = AE("TESTPACS")
    ae.add_supported_context(COMPREHENSIVE_SR)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        yield int(server.server_address[1]), got
    finally:
        server.shutdown()


def test_receive_scans_a_film_as_it_arrives_and_stops_on_sigint(tiny_model_dir, dicom_dir, tmp_path, pacs):
    """The README's command: ``pneumo-scan receive --port P --aet PNEUMO --csv received.csv``, with the
    result sent back to a PACS (``--send-to``) and saved (``--dicom-out``)."""
    from pydicom import dcmread
    from pynetdicom import AE

    from pneumo_desktop.net.results_out import COMPREHENSIVE_SR

    pacs_port, pacs_got = pacs
    port, out, results = free_port(), tmp_path / "received.csv", tmp_path / "dicom-results"
    receiver = Receiver(
        ["--port", str(port), "--aet", "PNEUMO", "--csv", str(out), "--bind", "127.0.0.1",
         "--allow-aet", "XRAY1", "--quota-mb", "500",
         "--send-to", f"TESTPACS@127.0.0.1:{pacs_port}", "--dicom-out", str(results),
         "--model-dir", str(tiny_model_dir), "--store", str(tmp_path / "store.sqlite3")]
    )  # fmt: skip
    try:
        receiver.wait_for("Receiving as PNEUMO")
        ds = dcmread(dicom_dir / CHEST_8BIT)
        ae = AE(ae_title="XRAY1")
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
        assoc = ae.associate("127.0.0.1", port, ae_title="PNEUMO")
        assert assoc.is_established
        try:
            assert assoc.send_c_store(ds).Status == 0x0000
        finally:
            assoc.release()
        sent = time.monotonic()
        while time.monotonic() - sent < ROW_DEADLINE and not read_rows(out):
            time.sleep(0.1)
        rows = read_rows(out)
        delay = time.monotonic() - sent
        assert len(rows) == 1, f"no row within {ROW_DEADLINE} s; stderr:\n{''.join(receiver.err)[-3000:]}"
        print(f"row appeared {delay:.2f} s after the C-STORE response")
        row = rows[0]
        assert Path(row["path"]).name == f"{ds.SOPInstanceUID}.dcm"
        assert Path(row["path"]).parent.name == "received"
        assert Path(row["path"]).parent.parent == Path(
            os.environ["PNEUMO_DATA_DIR"]
        )  # the user's data folder
        assert row["status"] in ("ok", "rejected") and row["format"] == "DICOM"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not pacs_got:
            time.sleep(0.1)
        assert pacs_got == [COMPREHENSIVE_SR], "".join(receiver.err)[-3000:]
        assert len(list(results.glob("*.dcm"))) == 1
        rc = receiver.stop(signal.SIGINT)
    finally:
        receiver.kill()
    assert rc == 0, "".join(receiver.err)[-3000:]
    assert "Received 1 film(s)" in "".join(receiver.err)
    assert "Traceback" not in "".join(receiver.err)
    assert any(ds.SOPInstanceUID in line for line in receiver.out)  # one line per scanned film


def test_receive_stops_on_sigterm_and_refuses_a_busy_port(tiny_model_dir, tmp_path):
    port = free_port()
    args = ["--port", str(port), "--model-dir", str(tiny_model_dir), "--store", str(tmp_path / "s.sqlite3")]
    first = Receiver(args)
    try:
        first.wait_for("Receiving as")
        second = Receiver(args)
        try:
            assert second.proc.wait(180) == 2
        finally:
            second.kill()
        assert "cannot listen" in "".join(second.err)
        rc = first.stop(signal.SIGTERM)
    finally:
        first.kill()
    assert rc == 0, "".join(first.err)[-3000:]
