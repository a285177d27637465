"""Command line of the training package: ``python -m training {train,evaluate,export,quality,stress,calibrate,soup}``."""

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
    t.add_argument("--seed", type=int, default=0, help="weight init, augmentation and batch order")
    t.add_argument(
        "--split-seed", type=int, default=None,
        help="seed of the tune split and the selection copies (default: --seed); a seed study keeps it fixed",
    )
    t.add_argument("--limit-per-class", type=int, default=None, help="use only N images per class")
    t.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.keras")
    t.add_argument("--init-from", default=None, metavar="CHECKPOINT",
                   help="start from the weights of a checkpoint of the same architecture (any input size)")
    t.add_argument("--export", metavar="MODEL_DIR", help="export the best model here when done")
    t.add_argument("--augment-kind", default="basic", choices=["basic", "shift", "shift-fov", "shape"],
                   help="basic: the 2.0.0 geometry and intensity jitter; shift: every stress family at "
                   "milder, random levels (training.augment); shift-fov: shift with a broader field-of-view stretch (0.85-1.18); "
                   "shape: shift-fov plus, half of the time, a class-conditional stretch that hides the film's shape")
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--schedule", default="plateau", choices=["plateau", "cosine"],
                   help="plateau: cut the LR 0.3x on a plateau, early stopping; cosine: decay to 0 over "
                   "--epochs, or over the epochs that fit --time-budget (fixed after epoch 1)")
    t.add_argument("--warmup-steps", type=int, default=0, help="cosine: linear warm-up steps")
    t.add_argument("--ema", type=float, default=0.0, metavar="MOMENTUM",
                   help="keep an exponential moving average of the weights (e.g. 0.995); checkpoints and "
                   "tune metrics use the averaged weights")
    t.add_argument("--train-from-block", type=int, default=1, metavar="N",
                   help="blocks 1..N-1 of VGG19 stay frozen (a cheaper fine-tune with --init-from)")
    t.add_argument("--stressed-tune", action="store_true",
                   help="select the best epoch on the tune split plus a stressed copy of it")
    t.add_argument("--fov-tune", action="store_true",
                   help="select also on two field-of-view copies of the tune split (squeezed 0.8, stretched 1.25)")

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

    x.add_argument("--stress-calibration", type=int, default=0, metavar="K",
                   help="fit temperature and threshold on the tune split plus K stressed copies of each "
                   "tune film (0: the clean tune split only)")
    x.add_argument("--calibration-fov", action="store_true",
                   help="with --stress-calibration: the copies are drawn from the field-of-view families too")
    x.add_argument("--notes", default=None, help="free text for the card's training.notes")
    x.add_argument("--precision", default="off", choices=["auto", "bf16", "off"],
                   help="inference precision of the export's predictions (off = float32)")

    q = sub.add_parser("quality", help="measure the quality gate (rejection rates) and store them in the card")
    q.add_argument("--model", required=True)
    q.add_argument("--data", required=True, help="folder with val/{NORMAL,PNEUMONIA}")
    q.add_argument("--dicom", default=None, help="folder of DICOM files (non-chest ones count as non-chest)")
    q.add_argument("--no-write", action="store_true", help="print only; leave the card as it is")

    s = sub.add_parser("stress", help="shift-stress validation of a model folder (clean and per perturbation)")
    s.add_argument("--model", default=None,
                   help="model folder (model_card.json + .keras), or a training run folder (T=1, threshold 0.5)")
    s.add_argument("--data", default=None, help="folder with val/{NORMAL,PNEUMONIA} (e.g. chest_xray_224sq)")
    s.add_argument("--aspect-data", default=None,
                   help="folder with aspect-kept copies of the same films (e.g. chest_xray; files present only)")
    s.add_argument("--split", default="val", help="val, or tune (the patient-grouped tune part of train)")
    s.add_argument("--out", default=None, help="where stress.json/.md go (default: model folder/stress-SPLIT)")
    s.add_argument("--precision", default="auto", choices=["auto", "bf16", "off"],
                   help="auto: mixed bfloat16 where the CPU has AMX/AVX-512 BF16, else float32")
    s.add_argument("--parity", type=int, default=0, metavar="N",
                   help="also compare bf16 with float32 probabilities on N clean films")
    s.add_argument("--families", default=None, help="comma-separated subset of the stress families (default: all)")
    s.add_argument("--rescore", metavar="NPZ", nargs="+", default=None,
                   help="no predictions: score this stress_predictions.npz with --model's temperature and threshold")
    s.add_argument("--compare", nargs="+", metavar="NAME=STRESS_JSON", default=None,
                   help="no predictions: one markdown table of several stress.json files")
    s.add_argument("--paired", nargs=2, metavar="NAME=NPZ", default=None,
                   help="no predictions: AUC of the second model minus the first on the same films "
                   "(two stress_predictions.npz), with a paired bootstrap interval that resamples films")
    s.add_argument("--bootstrap", type=int, default=2000, help="replicates for --paired")
    s.add_argument("--shape-matched", type=float, default=None, metavar="TOL",
                   help="with --paired, --data and --aspect-data: clean AUC over only the NORMAL/PNEUMONIA "
                   "pairs whose film width/height ratios differ by at most exp(TOL) (e.g. 0.1)")
    s.add_argument("--shape-auc", action="store_true",
                   help="no predictions: AUC of the film's width/height alone, on --aspect-data train and val")
    s.add_argument("--write-card", action="store_true", help="store the table in the model card (stress_validation)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--limit-per-class", type=int, default=None)

    c = sub.add_parser("calibrate", help="refit temperature and threshold on tune + stressed tune (weights unchanged)")
    c.add_argument("--model", required=True)
    c.add_argument("--data", required=True, help="the training data folder (its tune split is used)")
    c.add_argument("--out", required=True, help="model folder to write")
    c.add_argument("--copies", type=int, default=3, help="stressed copies of each tune film")
    c.add_argument("--precision", default="auto", choices=["auto", "bf16", "off"])
    c.add_argument("--fov", action="store_true", help="draw the copies from the field-of-view families too")
    c.add_argument("--val-predictions", default=None, metavar="NPZ",
                   help="stress_predictions.npz of the same weights on val, to rescore the card's val metrics")

    w = sub.add_parser("soup", help="interpolate a fine-tuned run's weights with its starting checkpoint (WiSE-FT)")
    w.add_argument("--run", required=True, help="run folder written by train (its best.keras)")
    w.add_argument("--start", required=True, help="the checkpoint the run was initialised from (--init-from)")
    w.add_argument("--alpha", default="0.5",
                   help="weight of the run (1 = the run, 0 = the start); several, comma-separated, are "
                   "compared on the run's selection set (tune + its stressed/fov copies) and the best is written")
    w.add_argument("--data", default=None, help="data folder, when the run was trained elsewhere")
    w.add_argument("--out", required=True, help="run folder to write (then export it as usual)")

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
            augment_kind=args.augment_kind, label_smoothing=args.label_smoothing, schedule=args.schedule,
            warmup_steps=args.warmup_steps, ema=args.ema, stressed_tune=args.stressed_tune, fov_tune=args.fov_tune,
            train_from_block=args.train_from_block, split_seed=args.split_seed,
        )
        from .train import precision_report

        print(precision_report(args.mixed_precision), flush=True)
        train(cfg, resume=args.resume)
        if args.export:
            from .export import export

            export(args.out, args.export)
        return 0
    if args.cmd == "evaluate":
        from .evaluate import evaluate_model_dir

        evaluate_model_dir(args.model, args.data, args.split, args.out, args.limit_per_class)
        return 0
    if args.cmd == "stress":
        import json

        from .stress import evaluate_stress
        from .train import precision_report

        if args.compare:
            from pathlib import Path

            from .stress import compare_markdown

            pairs = [(c.split("=", 1)[0], json.loads(Path(c.split("=", 1)[1]).read_text())) for c in args.compare]
            md = compare_markdown(pairs)
            print(md)
            if args.out:
                Path(args.out).write_text(md)
            return 0
        if args.paired:
            from pathlib import Path

            from .stress import paired_comparison, paired_markdown

            (na, pa), (nb, pb) = (c.split("=", 1) for c in args.paired)
            if args.shape_matched is not None:
                if not (args.data and args.aspect_data):
                    parser.error("--shape-matched needs --data and --aspect-data")
                from .stress import shape_matched_comparison

                matched = shape_matched_comparison(
                    pa, pb, args.aspect_data, args.data, args.split, args.shape_matched, args.bootstrap, args.seed
                )
                print(json.dumps({"a": na, "b": nb, **matched}, indent=2))
                return 0
            rows = paired_comparison(pa, pb, args.bootstrap, args.seed)
            md = paired_markdown(na, nb, rows)
            print(md)
            if args.out:
                Path(args.out).write_text(md)
            return 0
        if args.shape_auc:
            from .stress import film_shape_auc

            for split in ("train", "val"):
                print(json.dumps(film_shape_auc(args.aspect_data, split)))
            return 0
        if not args.model:
            parser.error("stress needs --model (or --compare)")
        if args.rescore:
            from .stress import rescore

            report = rescore(args.rescore, args.model, args.out)
            print(report["markdown"])
        else:
            if not args.data:
                parser.error("stress needs --data (or --rescore)")
            print(precision_report(args.precision), flush=True)
            report = evaluate_stress(
                args.model,
                args.data,
                args.aspect_data,
                args.split,
                args.out,
                args.precision,
                args.seed,
                args.limit_per_class,
                args.parity,
                args.families.split(",") if args.families else None,
            )
            print(report["markdown"])
            if "parity" in report:
                print("parity, mixed bfloat16 vs float32:", json.dumps(report["parity"]))
        if args.write_card:
            from .stress import write_to_card

            write_to_card(args.model, report, "python -m training " + " ".join(argv if argv is not None else sys.argv[1:]))
        return 0
    if args.cmd == "soup":
        from .soup import select_alpha, soup

        alphas = [float(a) for a in args.alpha.split(",")]
        alpha = alphas[0]
        if len(alphas) > 1:
            alpha, table = select_alpha(args.run, args.start, alphas, args.data)
            print("selection-set AUC by alpha: " + ", ".join(f"{a:g}: {v:.5f}" for a, v in table.items()))
            print(f"chosen alpha: {alpha:g}")
        soup(args.run, args.start, alpha, args.out)
        return 0
    if args.cmd == "calibrate":
        from .recalibrate import recalibrate

        card = recalibrate(
            args.model, args.data, args.out, args.copies, args.precision, args.val_predictions, with_fov=args.fov
        )
        print(f"temperature {card['temperature']:.4f}, threshold {card['threshold']:.4f}")
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
               data=args.data, stress_calibration=args.stress_calibration, precision=args.precision,
               notes=args.notes, calibration_fov=args.calibration_fov)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
