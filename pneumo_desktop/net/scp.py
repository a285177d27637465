"""Storage SCP: the X-ray machine (or a digitiser) sends each film by DICOM C-STORE.

:class:`StorageReceiver` accepts C-ECHO and C-STORE of projection radiograph storage SOP classes
(CR, DX for presentation and for processing, Secondary Capture) in the common transfer syntaxes,
compressed ones included. Any other SOP class is refused in the presentation context. Each
instance is received into a temporary file (pynetdicom's chunked mode: memory stays flat however
large the dataset), then moved atomically into the received folder as ``<SOP Instance UID>.dcm``;
only then is ``on_received`` called with its path (from one of pynetdicom's threads).

Refusals are a DICOM status, never an exception: the disk quota or the disk full gives 0xA700
(out of resources). A sender that disconnects mid-transfer leaves no file behind. Log lines name
the calling AE title, the peer's address, the SOP class and the size, never patient data.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.paths import user_data_dir

if TYPE_CHECKING:  # pynetdicom is imported when the receiver starts, not with this module
    from pynetdicom.events import EventHandlerType
    from pynetdicom.transport import ThreadedAssociationServer

log = logging.getLogger(__name__)

RECEIVED_FOLDER = "received"
INCOMING = ".incoming"  # hidden: the scanner's walk skips it; same disk as the received folder

#: Projection radiograph storage SOP classes (chest films arrive as these).
IMAGE_SOP_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image Storage
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray Image Storage - For Processing
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word Secondary Capture Image Storage
)
#: Transfer syntaxes accepted (uncompressed, deflate, JPEG baseline/extended/lossless, JPEG-LS,
#: JPEG 2000, RLE): everything the app's decoders read.
TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired, still sent by old machines)
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51",  # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless (Process 14)
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE Lossless
)
VERIFICATION = "1.2.840.10008.1.1"

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000
#: Free space always left on the disk, quota or not.
DISK_RESERVE = 64 * 1024 * 1024

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_AE_TITLE = re.compile(r"^[\x20-\x7e]{1,16}$")


def valid_ae_title(title: str) -> bool:
    """1 to 16 printable ASCII characters, not only spaces, no backslash (DICOM PS3.5 AE VR)."""
    return bool(_AE_TITLE.match(title)) and bool(title.strip()) and "\\" not in title


@dataclass(frozen=True)
class ReceiverConfig:
    """What the user sets: who we are, where we listen, whom we accept, how much disk we use."""

    ae_title: str = "PNEUMO"
    port: int = 11112
    bind: str = "127.0.0.1"  # the interface to listen on; 0.0.0.0 for every interface
    allowed_aets: tuple[str, ...] = ()  # calling AE titles accepted; empty: any
    quota_mb: float | None = None  # the received folder's size limit; None: only the disk's reserve
    folder: Path | None = None  # default: ``received/`` in the user's data folder
    max_associations: int = 4
    timeout: float = 60.0  # seconds of silence before a stalled sender is dropped

    def __post_init__(self) -> None:
        if not valid_ae_title(self.ae_title):
            raise ValueError(f"invalid AE title {self.ae_title!r}: 1 to 16 printable ASCII characters")
        if not 0 <= int(self.port) <= 65535:
            raise ValueError(f"invalid port {self.port}")
        for aet in self.allowed_aets:
            if not valid_ae_title(aet):
                raise ValueError(f"invalid calling AE title {aet!r}")
        if self.quota_mb is not None and self.quota_mb <= 0:
            raise ValueError("the quota must be a positive number of megabytes")

    @property
    def received_folder(self) -> Path:
        return Path(self.folder) if self.folder is not None else user_data_dir() / RECEIVED_FOLDER


@dataclass
class ReceiverStats:
    stored: int = 0
    refused: int = 0  # out of resources or failures
    aborted: int = 0  # associations aborted by the peer
    cut_off: int = 0  # transfers whose connection closed mid-way (partial data discarded)
    echoes: int = 0
    last_status: int | None = field(default=None, repr=False)


class StorageReceiver:
    """A DICOM Storage SCP in pynetdicom's server threads. ``start`` returns at once; ``stop`` waits."""

    def __init__(self, config: ReceiverConfig, on_received: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.on_received = on_received
        self.folder = config.received_folder
        self.stats = ReceiverStats()
        self._server: ThreadedAssociationServer | None = None
        self._lock = threading.Lock()  # quota check + move: one store at a time

    # ---------------------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound (port 0 in the config picks a free one)."""
        if self._server is None:
            raise RuntimeError("the receiver is not running")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Listen. Raises ``OSError`` when the address cannot be bound (port in use, no permission)."""
        from pynetdicom import AE, _config, evt

        # Received data sets go to a temporary file, not to memory: a huge dataset costs disk, not RAM.
        _config.STORE_RECV_CHUNKED_DATASET = True
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / INCOMING).mkdir(exist_ok=True)
        for leftover in (self.folder / INCOMING).glob("*.part"):  # from a crash or a power cut
            with contextlib.suppress(OSError):
                leftover.unlink()
        ae = AE(ae_title=self.config.ae_title)
        ae.maximum_associations = self.config.max_associations
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.config.timeout
        if self.config.allowed_aets:
            ae.require_calling_aet = list(self.config.allowed_aets)
        ae.add_supported_context(VERIFICATION)
        for sop_class in IMAGE_SOP_CLASSES:
            ae.add_supported_context(sop_class, list(TRANSFER_SYNTAXES))
        handlers: list[EventHandlerType] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_ABORTED, self._on_aborted),
            (evt.EVT_CONN_CLOSE, self._on_closed),
        ]
        self._server = ae.start_server(
            (self.config.bind, int(self.config.port)), block=False, evt_handlers=handlers
        )
        host, port = self.address
        log.info(
            "DICOM receiver %s listening on %s:%d; films go to %s%s",
            self.config.ae_title,
            host,
            port,
            self.folder,
            f" (quota {self.config.quota_mb:g} MB)" if self.config.quota_mb else "",
        )

    def stop(self) -> None:
        """Stop listening and end the open associations (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        try:
            server.shutdown()
        except Exception:  # stopping must never raise
            log.exception("error while stopping the DICOM receiver")
        log.info(
            "DICOM receiver stopped: %d stored, %d refused, %d aborted, %d cut off",
            self.stats.stored,
            self.stats.refused,
            self.stats.aborted,
            self.stats.cut_off,
        )

    # -- handlers (pynetdicom's threads) ------------------------------------------------------
    def _on_store(self, event) -> int:  # pynetdicom Event
        req = event.request
        peer = _peer(event)
        sop_class = str(req.AffectedSOPClassUID or "")
        instance = str(req.AffectedSOPInstanceUID or "")
        try:
            source = Path(event.dataset_path)
            size = source.stat().st_size
        except (OSError, AttributeError, ValueError):
            log.warning("C-STORE from %s: the received data could not be read back; refused", peer)
            return self._refused(CANNOT_UNDERSTAND)
        name = f"{instance}.dcm" if _UID.match(instance) and len(instance) <= 64 else None
        if name is None:
            log.warning("C-STORE from %s: invalid SOP Instance UID; refused", peer)
            return self._refused(CANNOT_UNDERSTAND)
        with self._lock:
            reason = self._no_room(size)
            if reason:
                log.warning("C-STORE from %s refused (out of resources, 0xA700): %s", peer, reason)
                return self._refused(OUT_OF_RESOURCES)
            try:
                target = self._move_in(source, name)
            except OSError as exc:
                log.warning(
                    "C-STORE from %s refused (out of resources, 0xA700): cannot write the film (%s)",
                    peer,
                    exc.strerror or type(exc).__name__,
                )
                return self._refused(OUT_OF_RESOURCES)
            self.stats.stored += 1
        log.info("received %s (%s, %.1f MB) from %s", target.name, _sop_name(sop_class), size / 1e6, peer)
        if self.on_received is not None:
            try:
                self.on_received(str(target))
            except Exception:  # the film is stored; the scan will say what went wrong
                log.exception("the received film could not be queued for scanning")
        return SUCCESS

    def _no_room(self, size: int) -> str:
        """Why a dataset of ``size`` bytes cannot be stored now, or an empty string."""
        if self.config.quota_mb is not None:
            used = folder_bytes(self.folder)
            quota = int(self.config.quota_mb * 1024 * 1024)
            if used + size > quota:
                return f"the received folder holds {used / 1e6:.0f} MB; quota {self.config.quota_mb:g} MB"
        try:
            free = shutil.disk_usage(self.folder).free
        except OSError:
            return ""
        if free - size < DISK_RESERVE:
            return f"only {free / 1e6:.0f} MB free on the disk"
        return ""

    def _move_in(self, source: Path, name: str) -> Path:
        """Atomically place the received file as ``folder/name``: complete or absent, never partial."""
        target = self.folder / name
        part = self.folder / INCOMING / f"{name}.{threading.get_ident()}.part"
        try:
            try:
                os.replace(source, part)  # same disk: a rename
            except OSError:
                shutil.copyfile(source, part)  # another disk (the system's temp folder)
            with open(part, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(part, target)
        finally:
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)
        return target

    def _refused(self, status: int) -> int:
        self.stats.refused += 1
        self.stats.last_status = status
        return status

    def _on_echo(self, event) -> int:
        self.stats.echoes += 1
        log.info("C-ECHO from %s", _peer(event))
        return SUCCESS

    def _on_accepted(self, event) -> None:
        log.info("association accepted from %s", _peer(event))

    def _on_rejected(self, event) -> None:
        log.warning(
            "association from %s rejected: its calling AE title is not in the allowed list", _peer(event)
        )

    def _on_aborted(self, event) -> None:
        self.stats.aborted += 1
        log.warning("association from %s aborted before it finished; nothing partial is kept", _peer(event))

    def _on_closed(self, event) -> None:
        """A connection closed mid-transfer leaves pynetdicom's temporary file: remove it."""
        message = getattr(getattr(event.assoc, "dimse", None), "message", None)
        handle = getattr(message, "_data_set_file", None)
        path = getattr(message, "_data_set_path", None)
        if handle is None or path is None or not Path(path).exists():
            return
        with contextlib.suppress(Exception):
            handle.close()
        with contextlib.suppress(OSError):
            Path(path).unlink()
            self.stats.cut_off += 1
            log.warning(
                "a transfer from %s was cut off mid-way; its partial data was discarded", _peer(event)
            )


def folder_bytes(folder: Path) -> int:
    """Total size of the files in ``folder`` (recursively), for the quota."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def _peer(event) -> str:
    try:
        req = event.assoc.requestor
        return f"{str(req.ae_title).strip()}@{req.address}"
    except Exception:
        return "unknown peer"


def _sop_name(uid: str) -> str:
    from pydicom.uid import UID

    return UID(uid).name if uid else "unknown SOP class"
