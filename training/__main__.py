"""Command line of the training package: ``python -m training {train,evaluate,export}``."""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train a model into a run folder")
    t.add_argument("--data", required=True, help="folder with train/{NORMAL,PNEUMONIA} (and val/)")
    t.add_argument("--out", required=True, help="run folder (config, checkpoints, history)")
    t.add_argument("--size", type=int, default=128, help="square input size in pixels")
    t.add_argument("--weights", default="none", help="imagenet | none | PATH to VGG19 notop weights")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--fine-tune-epochs", type=int, default=4)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--dropout", type=float, default=0.3)
    t.add_argument("--tune-frac", type=float, default=0.10,
                   help="share of train (whole patients) held out for early stopping and calibration")
    t.add_argument("--patience", type=int, default=3, help="early stopping: epochs without a better tune AUC")
    t.add_argument("--lr-patience", type=int, default=1,
                   help="epochs without a better tune AUC before the learning rate is cut to 0.3x")
    t.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop after the epoch that crosses this wall-clock budget, counted from the start "
                   "of the command (data loading included; a lent GPU's time)")
    t.add_argument("--last-every", type=int, default=1, metavar="N",
                   help="write last.keras (for --resume) every N epochs")
    t.add_argument("--workers", type=int, default=2, help="threads that decode and augment batches")
    t.add_argument("--no-augment", action="store_true")
    t.add_argument("--mixed-precision", default="auto", choices=["auto", "bf16", "fp16", "off"])
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit-per-class", type=int, default=None, help="use only N images per class")
    t.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.keras")
    t.add_argument("--init-from", default=None, metavar="CHECKPOINT",
                   help="start from the weights of a checkpoint of the same architecture (any input size)")
    t.add_argument("--export", metavar="MODEL_DIR", help="export the best model here when done")

    e = sub.add_parser("evaluate", help="evaluate a model folder on a data split")
    e.add_argument("--model", required=True, help="model folder (model_card.json + .keras)")
    e.add_argument("--data", required=True)
    e.add_argument("--split", default="val")
    e.add_argument("--out", default=None, help="where metrics.json and plots go (default: model folder/eval-SPLIT)")
    e.add_argument("--limit-per-class", type=int, default=None)

    x = sub.add_parser("export", help="calibrate a run's best checkpoint and write a model folder")
    x.add_argument("--run", required=True, help="run folder written by train")
    x.add_argument("--out", required=True, help="model folder to write, e.g. resources/model")
    x.add_argument("--target-sensitivity", type=float, default=0.95)
    x.add_argument("--sensitivity-confidence", type=float, default=0.95,
                   help="choose the threshold so that the target sensitivity holds with this one-sided "
                   "confidence on the tune split (Wilson bound); 0 = just meet the target on the tune split")
    x.add_argument("--version", default=None)
    x.add_argument("--data", default=None,
                   help="data folder, when the run was trained elsewhere (file lists are checked)")

    q = sub.add_parser("quality", help="measure the quality gate (rejection rates) and store them in the card")
    q.add_argument("--model", required=True)
    q.add_argument("--data", required=True, help="folder with val/{NORMAL,PNEUMONIA}")
    q.add_argument("--dicom", default=None, help="folder of DICOM files (non-chest ones count as non-chest)")
    q.add_argument("--no-write", action="store_true", help="print only; leave the card as it is")

    args = parser.parse_args(argv)
    if args.cmd == "export" and args.sensitivity_confidence and not 0.5 <= args.sensitivity_confidence < 1:
        parser.error("--sensitivity-confidence must be 0 (off) or in [0.5, 1)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.cmd == "train":
        from .train import TrainConfig, train

        cfg = TrainConfig(
            data=args.data, out=args.out, size=args.size, weights=args.weights, epochs=args.epochs,
            fine_tune_epochs=args.fine_tune_epochs, batch_size=args.batch_size, lr=args.lr,
            dropout=args.dropout, tune_frac=args.tune_frac, patience=args.patience,
            lr_patience=args.lr_patience, time_budget_s=args.time_budget, workers=args.workers,
            last_every=args.last_every,
            augment=not args.no_augment, mixed_precision=args.mixed_precision, seed=args.seed,
            limit_per_class=args.limit_per_class, init_from=args.init_from,
        )
        train(cfg, resume=args.resume)
        if args.export:
            from .export import export

            export(args.out, args.export)
        return 0
    if args.cmd == "evaluate":
        from .evaluate import evaluate_model_dir

        evaluate_model_dir(args.model, args.data, args.split, args.out, args.limit_per_class)
        return 0
    if args.cmd == "quality":
        import json

        from .quality_eval import evaluate_gate

        report = evaluate_gate(args.model, args.data, args.dicom, write=not args.no_write)
        print(json.dumps(report, indent=2))
        return 0
    if args.cmd == "export":
        from .export import export

        export(args.run, args.out, target_sensitivity=args.target_sensitivity, version=args.version,
               sensitivity_confidence=args.sensitivity_confidence or None,
               data=args.data)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
