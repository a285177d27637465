"""The model folder: the card's sha256 check, the bundle's inference runtime, the files bundled.

The runtime (pneumo_desktop/core/runtime.py) is OpenVINO when the model folder holds its export
(``python -m pneumo_desktop.core.runtime export resources/model``), else TensorFlow;
``PNEUMO_BUNDLE_RUNTIME=tensorflow|openvino|onnxruntime`` forces one. A lean bundle has no
TensorFlow or Keras and no .keras file: the exported files are checked against the card here and
again at load. Hashes come from :func:`pneumo_desktop.core.integrity.sha256_of`, the app's own.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from pneumo_desktop.core.integrity import sha256_of

from .config import BuildError

log = logging.getLogger(__name__)

TENSORFLOW = "tensorflow"
#: Exported runtimes, in order of preference when the card lists several.
EXPORTS = ("openvino", "onnxruntime")


@dataclass(frozen=True)
class ModelBundle:
    """What the bundle takes from the model folder: (source, destination folder) pairs, and the runtime."""

    datas: tuple[tuple[str, str], ...]
    runtime: str


def read_card(model_dir: Path) -> dict[str, Any]:
    """The card, after checking that it and the model file it names exist and match."""
    card_path = model_dir / "model_card.json"
    if not card_path.is_file():
        raise BuildError(
            f"no model card at {card_path}. Put the trained model (its .keras file and "
            "model_card.json) in resources/model/, or set PNEUMO_BUNDLE_MODEL_DIR to a model folder."
        )
    card: dict[str, Any] = json.loads(card_path.read_text(encoding="utf-8"))
    model_file = model_dir / card["model_file"]
    if not model_file.is_file():
        raise BuildError(f"the card names {card['model_file']}, which is not in {model_dir}.")
    actual = sha256_of(model_file)
    if actual != str(card["sha256"]).lower():
        raise BuildError(f"{model_file.name} does not match its card (sha256 {actual[:12]}...).")
    return card


def select_runtime(card: dict[str, Any], model_dir: Path, forced: str | None = None) -> str:
    """The bundle's runtime; an exported one must be an export of the card's model, file by file."""
    entries = card.get("runtimes") or {}
    name = forced or next((n for n in EXPORTS if n in entries), TENSORFLOW)
    if name != TENSORFLOW:
        entry = entries.get(name) or {}
        if entry.get("source_sha256") != card["sha256"]:
            raise BuildError(
                f"no {name} export of {card['model_file']} in {model_dir}; run "
                f"python -m pneumo_desktop.core.runtime export {model_dir}"
            )
        for rel, digest in entry["files"].items():
            if sha256_of(model_dir / rel) != digest:
                raise BuildError(f"{rel} does not match its card")
    log.info("inference runtime of the bundle: %s", name)
    return name


def runtime_skip(card: dict[str, Any], runtime: str) -> set[str]:
    """Model-folder files (posix, relative) that the bundle's runtime never reads."""
    runtimes = card.get("runtimes") or {}
    unused = set(runtimes) if runtime == TENSORFLOW else {n for n in runtimes if n != runtime}
    skip = {f for n in unused for f in runtimes[n]["files"]}
    if runtime != TENSORFLOW:
        skip.add(card["model_file"])
    return skip


def model_bundle(model_dir: Path, forced_runtime: str | None = None) -> ModelBundle:
    """The model folder's files for resources/model in the bundle (no hidden files, nothing unused)."""
    model_dir = Path(model_dir)
    card = read_card(model_dir)
    log.info("bundling model %s %s from %s", card.get("name"), card.get("version"), model_dir)
    runtime = select_runtime(card, model_dir, forced_runtime)
    skip = runtime_skip(card, runtime)
    datas = []
    for f in sorted(model_dir.rglob("*")):
        rel = f.relative_to(model_dir)
        if f.is_file() and not any(part.startswith(".") for part in rel.parts) and rel.as_posix() not in skip:
            datas.append((str(f), str(PurePath("resources", "model", *rel.parts[:-1]))))
    return ModelBundle(tuple(datas), runtime)
