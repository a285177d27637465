"""Before Qt starts on Linux/X11: are the system libraries of Qt's xcb platform plugin there?

Qt 6.5+ needs libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1 and friends from the system. A fresh
Debian or Ubuntu lacks some of them, and Qt then aborts with "Could not load the Qt platform plugin
'xcb'", which does not say what to install. This module tries to load each library the plugin
links (the list is ``ldd libqxcb.so`` of PySide6 6.11 on Debian 12, with the Debian/Ubuntu package
of each) and names the packages to install instead. No Qt import: it runs before Qt is loaded.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping, Sequence

#: soname -> the Debian/Ubuntu package that provides it.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}


def platform_will_be_xcb(argv: Sequence[str] = (), env: Mapping[str, str] | None = None) -> bool:
    """Whether Qt will pick its xcb plugin (Linux, not offscreen, not a Wayland session)."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):
        return False
    argv = list(argv)
    chosen = ""
    if "-platform" in argv[:-1]:
        chosen = argv[argv.index("-platform") + 1]
    chosen = chosen or env.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(":")[0].split(";")[0].strip() == "xcb"
    return not (env.get("XDG_SESSION_TYPE") == "wayland" and env.get("WAYLAND_DISPLAY"))


def missing_libraries(
    libraries: Mapping[str, str] | None = None, load: Callable[[str], object] = ctypes.CDLL
) -> dict[str, str]:
    """The libraries (soname -> package) that cannot be loaded."""
    missing = {}
    for soname, package in (XCB_LIBRARIES if libraries is None else libraries).items():
        try:
            load(soname)
        except OSError:
            missing[soname] = package
    return missing


def explain(missing: Mapping[str, str]) -> str:
    packages = " ".join(dict.fromkeys(missing.values()))
    return (
        "Pneumo Desktop cannot open its window: the system lacks libraries that Qt needs to draw on "
        f"X11 ({', '.join(missing)}).\n"
        "On Debian or Ubuntu, install them with:\n\n"
        f"    sudo apt-get install -y {packages}\n\n"
        "Then start Pneumo Desktop again. (The command-line scanner, pneumo-scan, works without them.)"
    )


def xcb_problem(
    argv: Sequence[str] = (), env: Mapping[str, str] | None = None, libraries: Mapping[str, str] | None = None
) -> str:
    """A message naming the packages to install, or "" when nothing is missing (or not xcb)."""
    if not platform_will_be_xcb(argv, env):
        return ""
    missing = missing_libraries(libraries)
    return explain(missing) if missing else ""
