"""``pneumo-scan calibrate FOLDER --site NAME``: set a clinic's own operating point (no Qt).

Exit codes as ``pneumo-scan``: 0 done, 2 usage or data problems (nothing saved), 3 model missing or
corrupt, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path

from .core import wording
from .core.logsetup import configure_console
from .core.model import DEVICES
from .core.site import (
    ProfileStore,
    SiteError,
    calibrate,
    card_auc,
    check_site_name,
    read_labelled,
    scan_films,
)

log = logging.getLogger("pneumo_desktop.cli")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pneumo-scan calibrate",
        description="Calibrate the screening threshold on your own films whose outcome is known. The "
        "films are scanned (a rerun reuses stored results), the threshold is chosen for the target "
        "sensitivity with the model card's rule, and a new version of the site profile is saved. "
        "Scan with it: pneumo-scan FOLDER --site NAME.",
    )
    p.add_argument(
        "source",
        metavar="FOLDER",
        type=Path,
        help="a folder with NORMAL/ and PNEUMONIA/ subfolders, or a CSV file of path,label",
    )
    p.add_argument("--site", required=True, help="the site's name, e.g. 'Clinic A'")
    p.add_argument(
        "--target-sensitivity",
        type=float,
        default=0.95,
        help="share of pneumonia films to find, with 95%% confidence (default 0.95)",
    )
    p.add_argument(
        "--prevalence",
        type=float,
        help="share of screened children who have pneumonia at your site, for the predictive "
        "values (default: the share in FOLDER)",
    )
    p.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        help="confidence that the target sensitivity is reached, by the one-sided Wilson lower bound "
        "(default 0.95, the model card's rule); 0: the target on these films only, no margin",
    )
    p.add_argument("--no-save", action="store_true", help="print the calibration, save no profile")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument(
        "--precision",
        choices=["float32", "bfloat16"],
        default="float32",
        help="bfloat16 is faster on CPUs with AVX-512 BF16",
    )
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--model-dir", type=Path, help="model folder (default: the bundled model)")
    p.add_argument("--no-cache", action="store_true", help="ignore stored results; recompute everything")
    p.add_argument("--store", type=Path, help="results database (default: in the user's data folder)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def calibrate_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    configure_console(args.verbose)
    if not 0.0 < args.target_sensitivity < 1.0:
        print("pneumo-scan calibrate: --target-sensitivity must be between 0 and 1", file=sys.stderr)
        return 2
    if not (args.confidence == 0 or 0.5 <= args.confidence < 1.0):
        print("pneumo-scan calibrate: --confidence must be 0 or between 0.5 and 1", file=sys.stderr)
        return 2
    if args.prevalence is not None and not 0.0 < args.prevalence < 1.0:
        print("pneumo-scan calibrate: --prevalence must be between 0 and 1 (e.g. 0.2)", file=sys.stderr)
        return 2
    try:
        site = check_site_name(args.site)
        films = read_labelled(args.source)
    except SiteError as exc:
        print(f"pneumo-scan calibrate: {exc}", file=sys.stderr)
        return 2

    from .cli_common import LOADER_THREADS, decoder_pool

    with decoder_pool(LOADER_THREADS) as decoders:  # started now: they come up while the model loads
        scanned = _scan_labelled(args, films, decoders)
    if isinstance(scanned, int):  # the model or the store could not be opened, or Ctrl+C
        return scanned
    predictor, results = scanned
    try:
        cal = calibrate(
            results or [],
            films,
            args.target_sensitivity,
            args.prevalence,
            card_auc(predictor.card.raw),
            confidence=args.confidence or None,
        )
    except SiteError as exc:
        print(f"pneumo-scan calibrate: {exc}", file=sys.stderr)
        return 2
    print(f"Site calibration for {site!r} with model {predictor.version} ({args.source}):")
    for line in cal.report_lines():
        print(f"  {line}")
    if args.no_save:
        print("Not saved (--no-save).")
        return 0
    profiles = ProfileStore()
    before = profiles.latest(site)
    profile = profiles.add(site, cal, predictor.card, source=str(args.source.resolve()))
    kept = f"; earlier versions are kept (latest before: v{before.version})" if before else ""
    print(f"Saved as site profile {profile.label} in {profiles.root}{kept}.")
    print(f"Scan with it: pneumo-scan FOLDER --site {site!r}")
    print(wording.DISCLAIMER)
    return 0


def _scan_labelled(args: argparse.Namespace, films, decoders):  # (Predictor, results) or an exit code
    """Scan the labelled films (the store caches them as any scan does); the caller owns ``decoders``."""
    from .cli_common import LOADER_THREADS, ProgressBar, open_predictor, open_store
    from .core.scan import Scanner

    predictor = open_predictor(args, "pneumo-scan calibrate")
    store = predictor if isinstance(predictor, int) else open_store(args, "pneumo-scan calibrate")
    if isinstance(store, int):  # that exit code
        return store
    scanner = Scanner(
        predictor, store=store, batch_size=args.batch_size, use_cache=not args.no_cache,
        loader_threads=LOADER_THREADS, decoder=decoders,
    )
    bar = ProgressBar(not args.quiet)
    try:
        results = scan_films(scanner, films, threading.Event(), lambda d, t: bar.update(d, t, None))
    except KeyboardInterrupt:
        bar.close()
        print("pneumo-scan calibrate: interrupted; nothing saved.", file=sys.stderr)
        return 130
    finally:
        if decoders is not None:
            decoders.close()  # the files being decoded finish before the store closes
        store.close()
    bar.close()
    return predictor, results


def threshold_for_scan(site: str | None, card, override: float | None):
    """The threshold in force for ``pneumo-scan PATH --site NAME`` (None after printing why the
    site is unknown). A profile made for another model is not applied: said on stderr."""
    from .core.threshold import resolve_threshold

    profile = None
    if site:
        try:
            profile = ProfileStore().latest(check_site_name(site))
        except SiteError as exc:
            print(f"pneumo-scan: {exc}", file=sys.stderr)
            return None
        if profile is None:
            print(
                f"pneumo-scan: no site profile named {site!r}; make one with "
                f"'pneumo-scan calibrate FOLDER --site {site!r}'",
                file=sys.stderr,
            )
            return None
    in_force = resolve_threshold(card, profile, override)
    if in_force.note:
        print(f"pneumo-scan: {in_force.note}. The model card's threshold is used.", file=sys.stderr)
    elif profile is not None and override is not None:
        print(f"pneumo-scan: --threshold {override} overrides site profile {profile.label}.", file=sys.stderr)
    return in_force
