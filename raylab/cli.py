"""`raylab {demo,ingest,train,sweep,ui}`: the command line, one explicit table of commands.

Bad input (unknown experiment, key or value, missing paths) is one line on stderr naming the
thing and what was expected, exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from raylab.config import ConfigError, parse_overrides


def _demo(args: argparse.Namespace) -> int:
    from raylab.demo import run_demo

    run_demo(Path(args.workdir), smoke=args.smoke)
    return 0


def _ingest(args: argparse.Namespace) -> int:
    if args.dataset == "imagenet":
        return _ingest_imagenet(args)
    from raylab.data.ingest import ingest_hmdb51, ingest_ucf101

    # Keys must match the `dataset` choices in _parser (imported here: the CLI starts faster).
    ingest = {"ucf101": ingest_ucf101, "hmdb51": ingest_hmdb51}[args.dataset]
    manifest = ingest(Path(args.root), args.split, Path(args.out))
    counts = manifest["counts"]
    print(f"ingest: {counts['train']} train / {counts['test']} test videos -> {args.out} "
          f"({len(manifest['rejected'])} rejected, reasons in manifest.json)")
    return 0


def _ingest_imagenet(args: argparse.Namespace) -> int:
    from raylab.data.image_ingest import ingest_imagenet

    manifest = ingest_imagenet(Path(args.root), Path(args.out), resize_px=args.resize_px)
    counts = manifest["counts"]
    print(f"ingest: {counts['train']} train / {counts['test']} val images -> {args.out} "
          f"({len(manifest['rejected'])} rejected, reasons in manifest.json)")
    return 0


def _train(args: argparse.Namespace) -> int:
    from raylab import experiments
    from raylab.train.trainer import fit

    cfg = experiments.load(args.experiment, smoke=args.smoke, overrides=parse_overrides(args.set))
    cfg = experiments.ensure_data(cfg)
    result = fit(cfg, address=args.address, fresh=args.fresh)
    print(f"{cfg.name}: {result.summary()}  ({result.seconds:.0f} s)")
    print(f"MLflow run {result.run_id} in {result.tracking_uri}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from raylab import experiments
    from raylab.tune.run import run_sweep

    cfg = experiments.load(args.experiment, smoke=args.smoke, overrides=parse_overrides(args.set))
    cfg = experiments.ensure_data(cfg)
    summary = run_sweep(cfg, address=args.address, resume=args.resume)
    print(summary.table())
    return 0


def _ui(args: argparse.Namespace) -> int:
    from raylab.track.server import ui_command

    command = ui_command(Path(args.workdir), port=args.port)
    print(f"serving the MLflow UI on http://127.0.0.1:{args.port} (Ctrl-C stops it)", flush=True)
    os.execvp(command[0], command)
    return 0  # not reached


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raylab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="synthetic UCF-101 -> shards -> Ray Train -> MLflow, 2 models")
    p.add_argument("--workdir", default="work")
    p.add_argument("--smoke", action="store_true", help="tiny settings (seconds, not minutes)")
    p.set_defaults(handler=_demo)

    p = sub.add_parser("ingest", help="turn a dataset on disk into Parquet shards")
    p.add_argument("dataset", choices=["ucf101", "hmdb51", "imagenet"])
    p.add_argument("--root", required=True,
                   help="ucf101: holds UCF-101/ and ucfTrainTestlist/; hmdb51: holds the class "
                        "folders (brush_hair/, ...) and testTrainMulti_7030_splits/; imagenet: "
                        "holds LOC_synset_mapping.txt, train/, val/ (and LOC_val_solution.csv "
                        "when val/ is flat)")
    p.add_argument("--split", type=int, choices=[1, 2, 3], default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--resize-px", type=int, default=256,
                   help="imagenet: shorter side of the training resize the pixel statistics "
                        "(mean image) are computed at (Krizhevsky et al.: 256)")
    p.set_defaults(handler=_ingest)

    for name, handler, helptext in (("train", _train, "train one experiment with Ray Train"),
                                    ("sweep", _sweep, "run an experiment's sweep with Ray Tune")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("experiment", help="name in jobs/experiments/ or a path to a .py file")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config field, e.g. --set optim.lr=0.01")
        p.add_argument("--smoke", action="store_true", help="the experiment's smoke() variant")
        p.add_argument("--address", default=None, help="Ray cluster address (default: local)")
        if name == "train":
            p.add_argument("--fresh", action="store_true", help="discard an earlier run of it")
        else:
            p.add_argument("--resume", action="store_true", help="continue an interrupted sweep")
        p.set_defaults(handler=handler)

    p = sub.add_parser("ui", help="the MLflow UI on 127.0.0.1 over the work dir's store")
    p.add_argument("--workdir", default="work")
    p.add_argument("--port", type=int, default=5000)
    p.set_defaults(handler=_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as err:
        print(f"raylab: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
