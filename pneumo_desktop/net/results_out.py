"""Results back to the PACS: a DICOM SR (and optionally a heatmap Secondary Capture) per judged film.

For each DICOM film that the model judged (status ok, or rejected with a reason), a Comprehensive SR
is made in the film's own study (highdicom ``ComprehensiveSR``): the label, the calibrated
probability of pneumonia, the threshold in force, the model's name and version, the reason when
the film was not judged, a reference to the film, and the disclaimer. Optionally, for films judged
ok, a Secondary Capture (highdicom ``SCImage``) shows the film with the heatmap overlaid and
"Decision support only" burned into the pixels. Both can be saved to a folder and sent by C-STORE
to a configured node (``AET@HOST:PORT``). Patient and study identity come from the film's own
header, read again at export time (a file changed since its scan is not exported).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import EXIT_SEND
from ..core.results import OK, ScanResult
from .result_objects import (
    COMPREHENSIVE_SR,
    DISCLAIMER,
    MANUFACTURER,
    SECONDARY_CAPTURE,
    HeatmapSource,
    build_sc,
    build_sr,
    exportable,
    overlay_rgb,
    read_source,
)

log = logging.getLogger(__name__)

__all__ = [
    "COMPREHENSIVE_SR",
    "DISCLAIMER",
    "DicomNode",
    "ExportReport",
    "HeatmapSource",
    "MANUFACTURER",
    "SECONDARY_CAPTURE",
    "SendOutcome",
    "add_cli_options",
    "build_sc",
    "build_sr",
    "describe",
    "export_for_cli",
    "export_results",
    "exportable",
    "heatmap_source",
    "overlay_rgb",
    "read_source",
    "save",
    "send",
]


@dataclass(frozen=True)
class DicomNode:
    """A DICOM application entity to send to: its AE title, host and port."""

    ae_title: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> DicomNode:
        """``AET@HOST:PORT`` (e.g. ``PACS@192.168.1.20:104``); ValueError when malformed."""
        from .scp import valid_ae_title

        aet, at, rest = text.partition("@")
        host, colon, port = rest.rpartition(":")
        if not at or not colon or not host or not valid_ae_title(aet):
            raise ValueError(f"{text!r} is not AET@HOST:PORT")
        try:
            number = int(port)
        except ValueError:
            raise ValueError(f"{text!r}: the port must be a number") from None
        if not 1 <= number <= 65535:
            raise ValueError(f"{text!r}: the port must be between 1 and 65535")
        return cls(aet, host.strip("[]"), number)

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


@dataclass(frozen=True)
class SendOutcome:
    sop_instance_uid: str
    sop_class_uid: str
    status: int | None  # the peer's DICOM status; None when not sent (no association)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 0x0000


@dataclass
class ExportReport:
    """What an export did: files written, statuses from the node, films skipped (and why)."""

    written: list[Path] = field(default_factory=list)
    sent: list[SendOutcome] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    made: int = 0

    @property
    def failed_sends(self) -> list[SendOutcome]:
        return [s for s in self.sent if not s.ok]


def save(ds: Any, folder: Path) -> Path:
    """Write ``ds`` to ``folder/<SOPInstanceUID>.dcm`` atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{ds.SOPInstanceUID}.dcm"
    part = folder / f".{ds.SOPInstanceUID}.part"
    try:
        ds.save_as(part, enforce_file_format=True)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target


def send(
    datasets: Sequence[Any], node: DicomNode, calling_aet: str = "PNEUMO", timeout: float = 30.0
) -> list[SendOutcome]:
    """C-STORE ``datasets`` to ``node`` over one association. Never raises for network trouble:
    every dataset gets an outcome (status None and a message when nothing could be sent)."""
    from pynetdicom import AE

    if not datasets:
        return []
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    for sop_class, syntax in sorted(
        {(str(d.SOPClassUID), str(d.file_meta.TransferSyntaxUID)) for d in datasets}
    ):
        ae.add_requested_context(sop_class, syntax)

    def none(message: str) -> list[SendOutcome]:
        return [SendOutcome(str(d.SOPInstanceUID), str(d.SOPClassUID), None, message) for d in datasets]

    try:
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title)
    except Exception as exc:  # DNS failures and the like
        log.warning("cannot reach %s: %s", node, type(exc).__name__)
        return none(f"cannot reach {node}")
    if not assoc.is_established:
        why = "rejected the association" if assoc.is_rejected else "could not be reached"
        log.warning("sending results: %s %s", node, why)
        return none(f"{node} {why}")
    out: list[SendOutcome] = []
    try:
        for ds in datasets:
            try:
                rsp = assoc.send_c_store(ds)
                status = int(rsp.Status) if rsp is not None and "Status" in rsp else None
                msg = "" if status == 0 else ("no answer" if status is None else f"status 0x{status:04X}")
            except Exception as exc:  # no accepted context, or the association dropped
                status, msg = None, f"not sent ({type(exc).__name__})"
            out.append(SendOutcome(str(ds.SOPInstanceUID), str(ds.SOPClassUID), status, msg))
            if not assoc.is_established:
                break
    finally:
        if assoc.is_established:
            assoc.release()
    sent = {o.sop_instance_uid for o in out}
    out.extend(o for o in none("the association ended early") if o.sop_instance_uid not in sent)
    log.info("sent %d of %d result object(s) to %s", sum(o.ok for o in out), len(out), node)
    return out


def export_results(
    results: Iterable[ScanResult],
    *,
    out_dir: Path | None = None,
    node: DicomNode | None = None,
    calling_aet: str = "PNEUMO",
    heatmaps: HeatmapSource | None = None,
) -> ExportReport:
    """Make the SR (and, with ``heatmaps``, the SC for films judged ok) of each judged DICOM film;
    save them to ``out_dir`` and/or send them to ``node``. Nothing raises for one bad film."""
    report = ExportReport()
    made: list[Any] = []
    series: dict[tuple[str, str], str] = {}  # (study, kind) -> series UID: one result series per study

    def series_for(study: str, kind: str) -> str:
        from highdicom import UID

        return series.setdefault((study, kind), str(UID()))

    for r in results:
        reason = exportable(r)
        if not reason:
            try:
                source = read_source(r)
            except ValueError as exc:
                reason = str(exc)
        if reason:
            report.skipped.append((r.name, reason))
            continue
        study = str(source.StudyInstanceUID)
        try:
            made.append(build_sr(r, source, series_for(study, "sr")))
            if heatmaps is not None and r.status == OK:
                pair = heatmaps(r)
                if pair is not None:
                    made.append(build_sc(r, source, pair[0], pair[1], series_for(study, "sc")))
        except Exception as exc:  # a header highdicom will not take: skip that film
            log.warning(
                "no DICOM result for %s (%s)", r.name, type(exc).__name__, exc_info=log.isEnabledFor(10)
            )
            report.skipped.append((r.name, f"the DICOM result could not be made ({type(exc).__name__})"))
    report.made = len(made)
    if out_dir is not None:
        for ds in made:
            report.written.append(save(ds, Path(out_dir)))
    if node is not None:
        report.sent = send(made, node, calling_aet)
    if report.skipped:
        log.info("%d film(s) got no DICOM result", len(report.skipped))
    return report


def heatmap_source(predictor: Any) -> HeatmapSource:
    """Heatmaps for the films (call from the thread that owns ``predictor``): the film is read again
    and its map is the one the scan stored with the row, else Grad-CAM run on it; None for a film
    that cannot be read now."""

    def source(result: ScanResult) -> tuple[np.ndarray, np.ndarray] | None:
        from ..core.errors import XRayLoadError
        from ..core.explain import gradcam
        from ..core.heatmap import stored_heatmap
        from ..core.io import load_xray

        try:
            xray = load_xray(result.path)
            heat = stored_heatmap(result, xray.pixels.shape)  # the scan's own map, when stored
            return xray.pixels, heat if heat is not None else gradcam(predictor, xray)
        except XRayLoadError as exc:
            log.warning("no heatmap image for %s: %s", result.name, exc)
        except Exception as exc:  # the SR is still made
            log.warning("no heatmap image for %s (%s)", result.name, type(exc).__name__)
        return None

    return source


def describe(report: ExportReport, out_dir: Path | None, node: DicomNode | None) -> list[str]:
    """Lines for a terminal: what was written and sent, what failed, what was skipped (by file name)."""
    lines = [f"DICOM results: {report.made} object(s) made"]
    if out_dir is not None:
        lines.append(f"  {len(report.written)} written to {out_dir}")
    if node is not None:
        ok = sum(s.ok for s in report.sent)
        lines.append(f"  {ok} of {len(report.sent)} sent to {node}")
        lines.extend(
            f"  not stored by {node}: {s.sop_instance_uid} ({s.message})" for s in report.failed_sends
        )
    if report.skipped:
        lines.append(f"  {len(report.skipped)} film(s) without a DICOM result:")
        lines.extend(f"    {name}: {reason}" for name, reason in report.skipped[:20])
        if len(report.skipped) > 20:
            lines.append(f"    ... and {len(report.skipped) - 20} more")
    return lines


def add_cli_options(parser: Any) -> None:
    """``--dicom-out``, ``--send-to``, ``--dicom-sc``, ``--calling-aet`` for pneumo-scan and its receiver."""
    parser.add_argument(
        "--dicom-out",
        type=Path,
        metavar="DIR",
        help="save a DICOM SR (and with --dicom-sc a heatmap image) per judged DICOM film here",
    )
    parser.add_argument(
        "--send-to",
        type=_node_arg,
        metavar="AET@HOST:PORT",
        help="send those DICOM results to a PACS or viewer by C-STORE",
    )
    parser.add_argument(
        "--dicom-sc",
        action="store_true",
        help="also make a Secondary Capture: the film with its heatmap, 'decision support only' burned in",
    )
    parser.add_argument("--calling-aet", default="PNEUMO", help="our AE title when sending (default PNEUMO)")


def _node_arg(text: str) -> DicomNode:
    import argparse

    try:
        return DicomNode.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def export_for_cli(args: Any, results: Sequence[ScanResult], predictor: Any) -> int:
    """Run the DICOM export the options ask for; print what happened. 0, or 6 (core.errors.EXIT_SEND) when a send failed."""
    import sys

    if not (args.dicom_out or args.send_to):
        return 0
    report = export_results(
        results,
        out_dir=args.dicom_out,
        node=args.send_to,
        calling_aet=args.calling_aet,
        heatmaps=heatmap_source(predictor) if args.dicom_sc else None,
    )
    for line in describe(report, args.dicom_out, args.send_to):
        sys.stderr.write(line + "\n")
    return EXIT_SEND if report.failed_sends else 0
