"""Integrity of the whole model folder: a manifest in the card, checked when the model loads.

The card's ``manifest`` holds the sha256 of every file the Predictor uses (the weights, the OOD
reference, any other file the card names, e.g. an orientation network) and the sha256 of the card
itself (all its other fields: threshold, temperature, preprocessing, OOD threshold, ...)::

    "manifest": {"files": {"pneumo_vgg19.keras": "05ae...", "ood_reference.npz": "9b1c..."},
                 "card_sha256": "3f2a...", "refresh": "python -m pneumo_desktop.core.integrity --write FOLDER"}

At load (:func:`verify_manifest`, called by ``ModelCard.verify``) a file that is missing or differs,
a file the card names that the manifest does not cover, or a card edited since the manifest was
written is refused with :class:`~pneumo_desktop.core.errors.ModelError` (``pneumo-scan`` exit 3).
This guards against damage and accidental edits; it is not a signature (whoever can rewrite the
folder can rewrite the manifest). A card without a manifest (a model from before it) is checked
the old way (the weights' sha256 only), with a warning; the bundled card's manifest is tested.

After retraining, or adding files: ``python -m pneumo_desktop.core.integrity --write resources/model``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ModelError

log = logging.getLogger(__name__)

MANIFEST = "manifest"
CARD_NAME = "model_card.json"
REFRESH = "python -m pneumo_desktop.core.integrity --write FOLDER"

_memo: dict[tuple[str, int, int], str] = {}
_memo_lock = threading.Lock()


def sha256_of(path: Path) -> str:
    """sha256 of a file, remembered while its size and modification time stay the same."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    digest = h.hexdigest()
    with _memo_lock:
        _memo[key] = digest
    return digest


def card_digest(raw: dict[str, Any]) -> str:
    """sha256 of every field of the card but the manifest (canonical JSON)."""
    body = {k: v for k, v in raw.items() if k != MANIFEST}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)
    return hashlib.sha256(blob.encode("ascii")).hexdigest()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _safe_name(folder: Path, name: str) -> Path | None:
    """``folder / name`` if ``name`` is a plain relative file name inside ``folder``."""
    if (
        not name
        or len(name) > 255
        or "\n" in name
        or name.startswith(("/", "\\"))
        or ".." in Path(name).parts
    ):
        return None
    return folder / name


def referenced_files(folder: str | Path, raw: dict[str, Any]) -> list[str]:
    """The files of ``folder`` that the card names (weights, OOD reference, ...), sorted."""
    folder = Path(folder)
    names = {raw.get("model_file", "")} | set(_strings({k: v for k, v in raw.items() if k != MANIFEST}))
    out = []
    for name in names:
        path = _safe_name(folder, str(name))
        if path is not None and name != CARD_NAME and path.is_file():
            out.append(str(name))
    return sorted(out)


def build_manifest(folder: str | Path, raw: dict[str, Any], extra: list[str] | None = None) -> dict[str, Any]:
    folder = Path(folder)
    names = set(referenced_files(folder, raw)) | set(extra or [])
    old = (raw.get(MANIFEST) or {}).get("files", {})
    names |= {n for n in old if _safe_name(folder, n) is not None and (folder / n).is_file()}
    files = {n: sha256_of(folder / n) for n in sorted(names)}
    return {"files": files, "card_sha256": card_digest(raw), "refresh": REFRESH}


def write_manifest(folder: str | Path, extra: list[str] | None = None) -> dict[str, Any]:
    """(Re)compute the manifest of the model folder and store it in its card; return it."""
    folder = Path(folder)
    path = folder / CARD_NAME
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw[MANIFEST] = build_manifest(folder, raw, extra)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return raw[MANIFEST]


def verify_manifest(folder: str | Path, raw: dict[str, Any], may_be_absent: frozenset[str] = frozenset()) -> bool:
    """Raise :class:`ModelError` unless every part of the model folder matches the card's manifest.
    False (and a warning) when the card has no manifest. ``may_be_absent``: files the runtime in use
    does not read (the .keras weights under a lean runtime, whose own export is checked by
    core.runtime); when present they are still checked."""
    folder = Path(folder)
    manifest = raw.get(MANIFEST)
    if not manifest:
        log.warning("the model card in %s has no manifest: only the weights file is checked", folder)
        return False
    reinstall = "It may be damaged or replaced; reinstall the app."
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ModelError(f"The model card in {folder} has an invalid manifest. {reinstall}")
    files: dict[str, str] = manifest["files"]
    for name, expected in files.items():
        path = _safe_name(folder, str(name))
        if path is None:
            raise ModelError(f"The model manifest names a file outside its folder ({name!r}). {reinstall}")
        if not path.is_file():
            if name in may_be_absent:
                continue
            raise ModelError(f"The model file {name} is missing from {folder}. {reinstall}")
        actual = sha256_of(path)
        if actual != str(expected).lower():
            raise ModelError(
                f"The model file {name} does not match the model's manifest (sha256 {actual[:12]}... "
                f"instead of {str(expected)[:12]}...). {reinstall}"
            )
    uncovered = [n for n in referenced_files(folder, raw) if n not in files]
    if uncovered:
        raise ModelError(
            f"The model file(s) {', '.join(uncovered)} in {folder} are not covered by the model's manifest. "
            f"{reinstall} (Developers: refresh it with {REFRESH.replace('FOLDER', str(folder))}.)"
        )
    if manifest.get("card_sha256") != card_digest(raw):
        raise ModelError(
            f"The model card in {folder} was changed after its manifest was written (threshold, temperature, "
            f"preprocessing...). {reinstall} (Developers: refresh it with {REFRESH.replace('FOLDER', str(folder))}.)"
        )
    return True


def runtime_digests(folder: str | Path, raw: dict[str, Any]) -> dict[str, str]:
    """sha256 of every file the model uses (for the results-cache key): what is on disk now."""
    folder = Path(folder)
    names = set(referenced_files(folder, raw)) | set((raw.get(MANIFEST) or {}).get("files", {}))
    out = {}
    for name in sorted(names):
        path = _safe_name(folder, str(name))
        if path is not None and path.is_file():
            out[name] = sha256_of(path)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m pneumo_desktop.core.integrity", description=__doc__.split("\n")[0]
    )
    p.add_argument("folder", type=Path, help="model folder (model_card.json and the files it names)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="(re)write the manifest into the card")
    mode.add_argument("--check", action="store_true", help="verify the folder against its manifest")
    p.add_argument("--include", nargs="*", default=[], help="more files of the folder to cover")
    args = p.parse_args(argv)
    if args.write:
        manifest = write_manifest(args.folder, args.include)
        for name, digest in manifest["files"].items():
            sys.stdout.write(f"{digest}  {name}\n")
        sys.stdout.write(f"{manifest['card_sha256']}  {CARD_NAME} (fields)\n")
        return 0
    try:
        raw = json.loads((args.folder / CARD_NAME).read_text(encoding="utf-8"))
        ok = verify_manifest(args.folder, raw)
    except (OSError, ValueError, ModelError) as exc:
        sys.stderr.write(f"integrity: {exc}\n")
        return 3
    sys.stdout.write("ok\n" if ok else "no manifest\n")
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
