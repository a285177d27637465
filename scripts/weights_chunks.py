"""Move a training checkpoint between machines whose file transfers are capped in size.

A lent GPU machine returns at most 16 MiB per file and 64 MiB per call, and the VGG19 checkpoint is
80 MB of float32. ``pack`` writes the weights as float16 (half the size; relative rounding error
below 5e-4 for |w| >= 6e-5, smaller weights lose more or become 0; every metric is measured after
unpacking) split into numbered chunks with a sha256 manifest;
``unpack`` checks the chunks, rebuilds the same architecture in float32 and writes a ``.keras``
checkpoint that ``python -m training export`` takes like any other. Export calibrates and evaluates
the unpacked weights, so every number in the model card is measured on what ships.

    python scripts/weights_chunks.py pack RUN/best.keras OUTDIR [--chunk-mib 15]
    python scripts/weights_chunks.py unpack OUTDIR RUN/best.keras --size 160
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import sys
from pathlib import Path

import numpy as np

log = logging.getLogger("weights_chunks")
PREFIX = "weights.f16.npz.part"


def pack(checkpoint: Path, out_dir: Path, chunk_mib: float) -> list[Path]:
    import keras

    model = keras.models.load_model(checkpoint, compile=False)
    weights = model.get_weights()
    buf = io.BytesIO()
    halves = [np.asarray(w, dtype=np.float16) for w in weights]
    if not all(np.isfinite(h).all() for h in halves):
        raise SystemExit("a weight does not fit in float16 (|w| > 65504): cannot pack this checkpoint")
    np.savez(buf, *halves)
    blob = buf.getvalue()
    out_dir.mkdir(parents=True, exist_ok=True)
    size = int(chunk_mib * 2**20)
    parts = []
    for i in range(0, len(blob), size):
        part = out_dir / f"{PREFIX}{i // size}"
        part.write_bytes(blob[i : i + size])
        parts.append(part)
    manifest = {
        "checkpoint": checkpoint.name,
        "arrays": len(weights),
        "parameters": int(sum(w.size for w in weights)),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "parts": [p.name for p in parts],
    }
    (out_dir / "weights.f16.json").write_text(json.dumps(manifest, indent=2))
    log.info("packed %d arrays (%d bytes) into %d parts", len(weights), len(blob), len(parts))
    return parts


def unpack(in_dir: Path, checkpoint: Path, size: int) -> None:
    import keras

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from training.model import build_model

    manifest = json.loads((in_dir / "weights.f16.json").read_text())
    blob = b"".join((in_dir / name).read_bytes() for name in manifest["parts"])
    if hashlib.sha256(blob).hexdigest() != manifest["sha256"]:
        raise SystemExit("chunks do not match the manifest's sha256")
    with np.load(io.BytesIO(blob)) as npz:
        weights = [npz[f"arr_{i}"].astype(np.float32) for i in range(manifest["arrays"])]
    keras.config.set_dtype_policy("float32")
    model = build_model(size)
    model.set_weights(weights)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    model.save(checkpoint)
    log.info("wrote %s (%d parameters)", checkpoint, manifest["parameters"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--chunk-mib", type=float, default=15.0)
    u = sub.add_parser("unpack")
    u.add_argument("in_dir", type=Path)
    u.add_argument("checkpoint", type=Path)
    u.add_argument("--size", type=int, required=True, help="the run's input size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.cmd == "pack":
        pack(args.checkpoint, args.out_dir, args.chunk_mib)
    else:
        unpack(args.in_dir, args.checkpoint, args.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
