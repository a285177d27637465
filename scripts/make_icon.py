"""Draw the Pneumo Desktop app icon with Pillow: two lungs and a trachea on a rounded blue tile.

Writes ``resources/icons/pneumo_desktop.png`` (512 px, for the window icon and Linux),
``pneumo_desktop.ico`` (16-256 px, Windows) and ``pneumo_desktop.icns`` (macOS). The drawing is
deterministic, so re-running the script reproduces the committed files.

    python scripts/make_icon.py [--out resources/icons]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

log = logging.getLogger("make_icon")

REPO = Path(__file__).resolve().parents[1]
NAME = "pneumo_desktop"
CANVAS = 1024  # drawn large, then downsampled (anti-aliasing for free)

BACKGROUND_TOP = (22, 78, 140)
BACKGROUND_BOTTOM = (12, 44, 92)
LUNG = (236, 244, 252)
LUNG_SHADE = (178, 206, 235)
AIRWAY = (236, 244, 252)
ACCENT = (235, 84, 84)


def _gradient(size: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    column = Image.new("RGB", (1, size))
    for y in range(size):
        t = y / (size - 1)
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    return column.resize((size, size))


def _lung_mask(size: int, left: bool) -> Image.Image:
    """One lung: a tall rounded shape with a flat-ish medial side and a notch for the heart."""
    mask = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(mask)
    s = size / CANVAS
    # Outer body of the lung (right lung drawn on the image's left, as on a PA film).
    x0, x1 = (180, 470) if left else (554, 844)
    d.ellipse([x0 * s, 250 * s, x1 * s, 860 * s], fill=255)
    # Cut the medial side straight-ish and the top into an apex.
    cut = ImageDraw.Draw(mask)
    if left:
        cut.rectangle([455 * s, 0, size, size], fill=0)
        cut.ellipse([400 * s, 610 * s, 560 * s, 900 * s], fill=0)  # cardiac notch
    else:
        cut.rectangle([0, 0, 569 * s, size], fill=0)
        cut.ellipse([464 * s, 560 * s, 680 * s, 930 * s], fill=0)  # bigger cardiac notch on the left lung
    return mask.filter(ImageFilter.GaussianBlur(2 * s))


def draw_icon(size: int = CANVAS) -> Image.Image:
    s = size / CANVAS
    # Rounded tile with a vertical gradient.
    tile = Image.new("L", (size, size), 0)
    ImageDraw.Draw(tile).rounded_rectangle(
        [24 * s, 24 * s, size - 24 * s, size - 24 * s], radius=200 * s, fill=255
    )
    icon = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    icon.paste(_gradient(size, BACKGROUND_TOP, BACKGROUND_BOTTOM), (0, 0), tile)

    # Lungs, with a soft inner shade so they read as volumes.
    for left in (True, False):
        mask = _lung_mask(size, left)
        icon.paste(Image.new("RGB", (size, size), LUNG), (0, 0), mask)
        inner = mask.filter(ImageFilter.GaussianBlur(40 * s))
        shade = ImageChops.subtract(mask, inner)
        icon.paste(Image.new("RGB", (size, size), LUNG_SHADE), (0, 0), shade.point(lambda v: min(255, v * 2)))

    # Trachea and main bronchi.
    d = ImageDraw.Draw(icon)
    w = round(44 * s)
    d.line([(512 * s, 110 * s), (512 * s, 430 * s)], fill=AIRWAY, width=w)
    d.line([(512 * s, 420 * s), (400 * s, 520 * s)], fill=AIRWAY, width=round(34 * s), joint="curve")
    d.line([(512 * s, 420 * s), (624 * s, 520 * s)], fill=AIRWAY, width=round(34 * s), joint="curve")
    d.ellipse([490 * s, 398 * s, 534 * s, 442 * s], fill=AIRWAY)

    # A small red cross in the lower right corner: "medical screening".
    cx, cy, arm, thick = 800 * s, 800 * s, 92 * s, 54 * s
    d.ellipse([cx - 130 * s, cy - 130 * s, cx + 130 * s, cy + 130 * s], fill=(255, 255, 255, 255))
    d.rectangle([cx - arm, cy - thick / 2, cx + arm, cy + thick / 2], fill=ACCENT)
    d.rectangle([cx - thick / 2, cy - arm, cx + thick / 2, cy + arm], fill=ACCENT)
    return icon


def write_icons(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    big = draw_icon(CANVAS)
    png = out / f"{NAME}.png"
    big.resize((512, 512), Image.Resampling.LANCZOS).save(png, optimize=True)
    ico = out / f"{NAME}.ico"
    big.save(ico, sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    icns = out / f"{NAME}.icns"
    big.save(icns)
    return [png, ico, icns]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO / "resources" / "icons")
    args = p.parse_args(argv)
    for path in write_icons(args.out):
        log.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
