"""Write ``THIRD_PARTY_LICENSES`` for what a PyInstaller build actually bundled.

``build.spec`` passes the source paths of every module, binary and data file in the Analysis; this
script maps them to the installed distributions that own them (through ``importlib.metadata``
RECORD files) and writes, for each distribution: name, version, licence (License-Expression, else
the License field, else the "License ::" classifiers) and the text of every licence file the
distribution ships. Python itself and the PyInstaller bootloader are always listed. The DICOM
decoder packages are checked against the app's codecs table (``pneumo_desktop/core/io/codecs.py``):
their licences and the transfer syntaxes they decode are summarised, and a package the table never
ships (pylibjpeg-libjpeg, GPL-3.0) stops the build.

Standalone use (for a quick look at a virtual environment, not what a build bundles):

    python scripts/third_party_licenses.py --dist keras pydicom --out THIRD_PARTY_LICENSES
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import platform
import re
import sys
import sysconfig
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger("third_party_licenses")

#: Distributions that are in every frozen app although no bundled file belongs to them
#: (the bootloader and PyInstaller's run-time modules are PyInstaller's).
ALWAYS = ("pyinstaller",)
#: Our own project: not a third party.
SELF = ("pneumo-desktop",)

_LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|COPYRIGHT|AUTHORS|THIRD[_-]PARTY)", re.IGNORECASE)
_RULE = "=" * 100


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _owner_map() -> dict[str, metadata.Distribution]:
    """Resolved absolute file path -> the installed distribution whose RECORD lists it."""
    owners: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        for f in dist.files or ():
            try:
                path = os.path.normcase(os.path.realpath(str(dist.locate_file(f))))
            except (OSError, ValueError):
                continue
            owners.setdefault(path, dist)
    return owners


def _in_python(path: str) -> bool:
    """True for files of the Python installation itself (standard library, lib-dynload, libpython)."""
    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")} | {sys.base_prefix}
    real = os.path.normcase(os.path.realpath(path))
    if os.path.basename(real).lower().startswith(("libpython", "python3")):
        return True
    site = {os.path.normcase(os.path.realpath(p)) for p in sysconfig.get_paths().values()}
    return any(real.startswith(os.path.normcase(os.path.realpath(r)) + os.sep) for r in roots) and not any(
        real.startswith(x + os.sep) for x in site if "site-packages" in x
    )


def unowned_binaries(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """File names of bundled binaries that no Python package owns and that are not Python's own:
    system libraries PyInstaller copied from the build machine (e.g. libstdc++, GLib, X11 on Linux)."""
    owners = _owner_map()
    names = set()
    for p in paths:
        if p and os.path.normcase(os.path.realpath(p)) not in owners and not _in_python(str(p)):
            names.add(os.path.basename(p))
    return sorted(names)


def bundled_distributions(paths: Iterable[str | os.PathLike[str]]) -> list[metadata.Distribution]:
    """The installed distributions that own any of ``paths`` (plus :data:`ALWAYS`), sorted by name."""
    owners = _owner_map()
    found: dict[str, metadata.Distribution] = {}
    for p in paths:
        if not p:
            continue
        dist = owners.get(os.path.normcase(os.path.realpath(p)))
        if dist is not None:
            found.setdefault(_norm(dist.metadata["Name"]), dist)
    for name in ALWAYS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found.setdefault(_norm(dist.metadata["Name"]), dist)
    for name in SELF:
        found.pop(name, None)
    return [found[k] for k in sorted(found)]


#: The app's codecs table, read from this repository (it is plain data: no decoder is imported).
_CODECS_FILE = Path(__file__).resolve().parents[1] / "pneumo_desktop" / "core" / "io" / "codecs.py"


def _codec_table() -> Any:
    """The module ``pneumo_desktop.core.io.codecs`` of this repository: which package decodes which
    DICOM transfer syntax, and its licence. Loaded from its file, so that the table of the tree being
    built is used whatever ``pneumo_desktop`` the environment has installed."""
    name = "_pneumo_codecs_table"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _CODECS_FILE)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(_CODECS_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
    return sys.modules[name]


def check_codecs(dists: Iterable[metadata.Distribution]) -> list[str]:
    """Check a build's distributions against the codecs table. Raises ``ValueError`` when a package
    the table says is never shipped (pylibjpeg-libjpeg: GPL-3.0) is bundled; returns the names of
    the decoder packages the table ships that are missing from the build (a warning each)."""
    codecs = _codec_table()
    names = {_norm(d.metadata["Name"]) for d in dists}
    banned = sorted(n for n in codecs.NOT_SHIPPED if _norm(n) in names)
    if banned:
        raise ValueError(
            f"the build bundles {', '.join(banned)}, which the codecs table (pneumo_desktop/core/io/codecs.py) "
            "says is never shipped; uninstall it from the build environment"
        )
    missing = [n for n in codecs.shipped_packages() if _norm(n) not in names]
    for name in missing:
        log.warning("the build does not bundle the DICOM decoder package %s", name)
    return missing


def codec_lines(dists: Iterable[metadata.Distribution]) -> list[str]:
    """The "DICOM decoders" part of the summary: each bundled decoder package, its licence (from
    the codecs table) and the transfer syntaxes it decodes."""
    codecs = _codec_table()
    table = {_norm(name): package for name, package in codecs.PACKAGES.items()}
    lines = []
    for d in dists:
        package = table.get(_norm(d.metadata["Name"]))
        if package is None or package.name == "numpy":
            continue
        syntaxes = ", ".join(codecs.uses(package.name)) or "-"
        lines.append(f"  {package.name:<32} {package.licence:<28} {syntaxes}")
    if not lines:
        return []
    return ["", "DICOM image decoders in this build (licence; transfer syntaxes decoded):", *lines]


def licence_of(dist: metadata.Distribution) -> str:
    """The declared licence, most precise source first."""
    meta: Any = dist.metadata  # an email.message.Message (the PackageMetadata protocol has no get())
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return expression
    text = (meta.get("License") or "").strip()
    classifiers = [
        c.split("::")[-1].strip() for c in meta.get_all("Classifier") or () if c.startswith("License ::")
    ]
    if text and "\n" not in text and len(text) <= 120 and text.upper() not in ("UNKNOWN", "NONE"):
        return text
    if classifiers:
        return "; ".join(dict.fromkeys(classifiers))
    if text:
        return "see the licence text below"
    return "not declared in the package metadata"


def licence_files(dist: metadata.Distribution) -> list[tuple[str, Path]]:
    """(name shown, path) of the licence files a distribution ships, in its metadata folder first."""
    files: dict[str, tuple[str, Path]] = {}
    declared = {Path(v).name.lower() for v in dist.metadata.get_all("License-File") or ()}
    for f in dist.files or ():
        parts = [part.lower() for part in f.parts]
        in_meta = bool(parts) and parts[0].endswith((".dist-info", ".egg-info"))
        name = f.name
        if f.suffix.lower() in (".py", ".pyc", ".so", ".dll", ".pyd", ".dylib", ".h"):
            continue
        wanted = (
            in_meta and (_LICENSE_FILE.match(name) or "licenses" in parts or name.lower() in declared)
        ) or (not in_meta and _LICENSE_FILE.match(name) and len(parts) <= 3)
        if not wanted:
            continue
        path = Path(str(dist.locate_file(f)))
        if path.is_file():
            files.setdefault(str(f).replace("\\", "/"), (str(f).replace("\\", "/"), path))
    return sorted(files.values())


#: Where to look for a licence text by SPDX id when a package ships none (PySide6 wheels ship no
#: LGPL text): a folder of ``<SPDX id>.txt`` files in the repository, then Debian's common-licenses.
_SPDX_DIRS = (
    Path(__file__).resolve().parents[1] / "resources" / "licenses",
    Path("/usr/share/common-licenses"),
)
_COMMON_NAMES = {
    "LGPL-3.0-only": "LGPL-3",
    "LGPL-3.0-or-later": "LGPL-3",
    "GPL-3.0-only": "GPL-3",
    "GPL-3.0-or-later": "GPL-3",
    "GPL-2.0-only": "GPL-2",
    "GPL-2.0-or-later": "GPL-2",
    "LGPL-2.1-only": "LGPL-2.1",
    "LGPL-2.1-or-later": "LGPL-2.1",
    "Apache-2.0": "Apache-2.0",
    "MPL-2.0": "MPL-2.0",
}


def spdx_texts(expression: str) -> list[tuple[str, str]]:
    """(SPDX id, text) for each licence of an SPDX expression whose text can be found locally."""
    found = []
    for ident in re.findall(r"[A-Za-z0-9.+-]+", expression):
        if ident.upper() in ("AND", "OR", "WITH"):
            continue
        for folder in _SPDX_DIRS:
            for name in (f"{ident}.txt", _COMMON_NAMES.get(ident, "")):
                path = folder / name if name else None
                if path is not None and path.is_file():
                    found.append((ident, path.read_text(encoding="utf-8", errors="replace")))
                    break
            else:
                continue
            break
    return found


def _python_licence() -> str:
    candidates = [
        Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt",
        Path(sys.base_prefix) / "LICENSE.txt",
        Path(sys.base_prefix)
        / "share"
        / "doc"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "LICENSE",
    ]
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8", errors="replace")
    return "Python Software Foundation License Version 2 (PSF-2.0): https://docs.python.org/3/license.html\n"


def render(
    dists: Iterable[metadata.Distribution], app_name: str = "Pneumo Desktop", others: Iterable[str] = ()
) -> str:
    dists = list(dists)
    others = list(others)
    out: list[str] = [
        f"Third-party software bundled with {app_name}",
        "",
        f"Generated at build time from the packages in this build ({platform.system()} {platform.machine()},",
        f"Python {platform.python_version()}). Each entry gives the name, version and declared licence of one",
        "package, followed by the licence files that package ships. The Qt libraries (PySide6/shiboken6)",
        "are used under the LGPL-3.0, dynamically linked and unmodified; their source code is available",
        "from https://download.qt.io/official_releases/QtForPython/ and https://code.qt.io/. The PyInstaller",
        "bootloader is GPL-2.0 with the Bootloader Exception, which allows distributing it with any program.",
        "",
        "Summary:",
        f"  {'Python':<32} {platform.python_version():<16} PSF-2.0",
    ]
    for d in dists:
        out.append(f"  {d.metadata['Name']:<32} {d.version:<16} {licence_of(d)}")
    out += codec_lines(dists)
    out += ["", _RULE, f"Python {platform.python_version()} (PSF-2.0)", _RULE, _python_licence().rstrip(), ""]
    for d in dists:
        meta: Any = d.metadata
        out += [_RULE, f"{meta['Name']} {d.version}", f"Licence: {licence_of(d)}"]
        if meta.get("Home-page"):
            out.append(f"Home page: {meta['Home-page']}")
        for url in meta.get_all("Project-URL") or ():
            out.append(f"Project URL: {url}")
        files = licence_files(d)
        if not files:
            text = (meta.get("License") or "").strip()
            texts = spdx_texts(licence_of(d))
            if "\n" in text:
                out += ["-" * 100, text]
            elif texts:
                for ident, body in texts:
                    out += [
                        "-" * 100,
                        f"{ident} (the package ships no licence file; standard text):",
                        "-" * 100,
                    ]
                    out.append(body.rstrip())
            else:
                out += ["-" * 100, "(no licence file is shipped in this distribution)"]
            out.append("")
            continue
        for shown, path in files:
            out += ["-" * 100, f"{shown}:", "-" * 100]
            out.append(path.read_text(encoding="utf-8", errors="replace").rstrip())
        out.append("")
    if others:
        out += [
            _RULE,
            "Other shared libraries copied from the build machine (not from a Python package; each under",
            "its distributor's licence, e.g. the GNU C++ runtime, GLib, X11/XCB, D-Bus, OpenSSL, SQLite):",
            _RULE,
        ]
        out += [f"  {name}" for name in others]
        out.append("")
    return "\n".join(out) + "\n"


def write_licences(
    paths: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    binaries: Iterable[str | os.PathLike[str]] = (),
) -> list[str]:
    """Write the file for a build whose bundled source paths are ``paths`` (``binaries``: the shared
    libraries among them, checked for system libraries); return the package names listed."""
    paths = list(paths)
    dists = bundled_distributions(paths)
    check_codecs(dists)
    Path(out).write_text(render(dists, others=unowned_binaries(binaries)), encoding="utf-8")
    return [str(d.metadata["Name"]) for d in dists]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dist", nargs="+", required=True, help="distribution names to list")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    dists = []
    for name in args.dist:
        try:
            dists.append(metadata.distribution(name))
        except metadata.PackageNotFoundError:
            log.error("not installed: %s", name)
            return 1
    args.out.write_text(render(dists), encoding="utf-8")
    log.info("wrote %s (%d packages)", args.out, len(dists))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
