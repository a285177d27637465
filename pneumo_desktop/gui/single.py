"""One running app per results store: a second launch brings the first to the front (and hands it
the paths it was given) instead of opening the same store unguarded.

QLocalServer listens under a name derived from the user's data folder (where the store lives);
a second instance connects, sends its paths and exits. A server left behind by a crashed instance
is removed when nobody answers on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from ..core.paths import user_data_dir

log = logging.getLogger(__name__)

TIMEOUT_MS = 1500


def instance_key() -> str:
    """One name per user and data folder (so a test's private store has its own)."""
    folder = os.path.abspath(str(user_data_dir()))
    user = os.environ.get("USER") or os.environ.get("USERNAME") or ""
    return "pneumo-desktop-" + hashlib.sha256(f"{user}\0{folder}".encode()).hexdigest()[:16]


class SingleInstance(QObject):
    """``claim()`` True: this is the first instance (``activated`` fires when another one starts)."""

    activated = Signal(list)  # paths the second launch was given

    def __init__(self, key: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = key or instance_key()
        self.server: QLocalServer | None = None
        self._sockets: list[QLocalSocket] = []  # connections that have not sent their line yet

    def claim(self) -> bool:
        if self._someone_answers():
            return False
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.key):
            QLocalServer.removeServer(self.key)  # left behind by a crash: nobody answered on it
            if not server.listen(self.key):
                log.warning("single-instance guard not available: %s", server.errorString())
                return True  # better an unguarded app than none
        server.newConnection.connect(self._on_connection)
        self.server = server
        return True

    def _someone_answers(self) -> bool:
        socket = QLocalSocket()
        socket.connectToServer(self.key)
        ok = socket.waitForConnected(TIMEOUT_MS // 3)
        socket.abort()
        return ok

    def activate_running(self, paths: list[str]) -> bool:
        """Ask the running instance to come to the front (and open ``paths``)."""
        socket = QLocalSocket()
        socket.connectToServer(self.key)
        if not socket.waitForConnected(TIMEOUT_MS):
            return False
        socket.write(json.dumps({"paths": [os.path.abspath(p) for p in paths]}).encode() + b"\n")
        ok = socket.waitForBytesWritten(TIMEOUT_MS)
        socket.disconnectFromServer()
        return ok

    def _on_connection(self) -> None:
        assert self.server is not None
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()  # a child of the server, freed with it
            self._sockets.append(socket)
            socket.readyRead.connect(self._read_all)
            self._read_all()

    def _read_all(self) -> None:
        for socket in list(self._sockets):
            if not socket.canReadLine():
                continue
            self._sockets.remove(socket)
            try:
                message = json.loads(bytes(socket.readLine().data()).decode("utf-8"))
                paths = [str(p) for p in message.get("paths", [])]
            except (ValueError, AttributeError):
                paths = []
            socket.readyRead.disconnect(self._read_all)
            socket.abort()
            self.activated.emit(paths)

    def close(self) -> None:
        self._sockets.clear()
        if self.server is not None:
            self.server.newConnection.disconnect(self._on_connection)
            self.server.close()
            self.server = None


def bring_to_front(window, paths: list[str]) -> None:  # a MainWindow
    """What the running app does when it is launched again."""
    if window.isMinimized():
        window.showNormal()
    window.show()
    window.raise_()
    window.activateWindow()
    existing = [p for p in paths if os.path.exists(p)]
    if existing:
        window.open_paths(existing)
    log.info("launched again: brought to the front (%d paths)", len(existing))


def refuse_second_instance(guard: SingleInstance, paths: list[str]) -> int:
    """The second launch: hand over to the running app, or say politely why we stop."""
    if guard.activate_running(paths):
        log.info("already running: the open window was brought to the front")
        sys.stderr.write("Pneumo Desktop is already running: its window was brought to the front.\n")
        return 0
    from PySide6.QtWidgets import QMessageBox

    QMessageBox.information(
        None,
        "Pneumo Desktop is already running",
        "Pneumo Desktop is already open, but it did not answer. Use its window, or close it and "
        "start Pneumo Desktop again. (Two copies would share one results store.)",
    )
    return 1
