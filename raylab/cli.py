"""`raylab {demo,ingest,flow,subset,two-stream,train,sweep,ui}`: the command line.

Bad input (unknown experiment, key or value, missing paths) is one line on stderr naming the
thing and what was expected, exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from raylab.config import ConfigError, IngestConfig, parse_overrides


def _demo(args: argparse.Namespace) -> int:
    from raylab.demo import run_demo

    run_demo(Path(args.workdir), smoke=args.smoke)
    return 0


def _ingest(args: argparse.Namespace) -> int:
    cfg = IngestConfig(shard_target_mb=args.shard_target_mb, segment_s=args.segment_s,
                       val_fraction=args.val_fraction,
                       max_reject_fraction=args.max_reject_fraction)
    if args.dataset == "imagenet":
        return _ingest_imagenet(args, cfg)
    from raylab.data.ingest import ingest_hmdb51, ingest_sports1m, ingest_ucf101

    common = {"cfg": cfg, "address": args.address}
    # Keys must match the `dataset` choices in _parser (imported here: the CLI starts faster).
    run = {
        "ucf101": lambda: ingest_ucf101(args.root, args.split, args.out, **common),
        "hmdb51": lambda: ingest_hmdb51(args.root, args.split, args.out, **common),
        "sports1m": lambda: ingest_sports1m(args.root, args.out, **common),
    }[args.dataset]
    manifest = run()  # raises TooManyRejects (a ConfigError: exit 2) after writing the manifest
    videos = " / ".join(f"{n} {split}" for split, n in manifest["videos"].items())
    print(f"ingest: {videos} videos -> {args.out} "
          f"({len(manifest['rejected'])} rejected, reasons in manifest.json)")
    return 0


def _flow(args: argparse.Namespace) -> int:
    from raylab.config import FlowConfig, from_dict
    from raylab.data.flow_job import run_flow

    given = {"method": args.method, "bound_px": args.bound, "size_px": args.size,
             "raft_weights": args.raft_weights}
    cfg = from_dict(FlowConfig, {k: v for k, v in given.items() if v is not None},
                    prefix="flow.")
    run = run_flow(Path(args.shards), Path(args.out), cfg, workers=args.workers,
                   gpus_per_worker=args.gpus_per_worker, address=args.address, fresh=args.fresh)
    print(f"flow: {run.pairs_computed} frame pairs in {run.parts_computed} parts computed, "
          f"{run.parts_skipped} parts already done -> {args.out}")
    return 0


def _subset(args: argparse.Namespace) -> int:
    from raylab.data.subset import write_subset

    write_subset(Path(args.shards), Path(args.out), per_class=args.per_class, seed=args.seed)
    return 0


def _ingest_imagenet(args: argparse.Namespace, cfg: IngestConfig) -> int:
    from raylab.data.image_ingest import ingest_imagenet

    # raises TooManyRejects (a ConfigError: exit 2) after writing the manifest
    manifest = ingest_imagenet(args.root, args.out, cfg=cfg, resize_px=args.resize_px,
                               address=args.address)
    counts = manifest["counts"]
    print(f"ingest: {counts['train']} train / {counts['test']} val images -> {args.out} "
          f"({len(manifest['rejected'])} rejected, reasons in manifest.json)")
    return 0


def _train(args: argparse.Namespace) -> int:
    from raylab import experiments
    from raylab.train.stages import fit_experiment

    cfg = experiments.load(args.experiment, smoke=args.smoke, overrides=parse_overrides(args.set))
    cfg = experiments.ensure_data(cfg)
    result = fit_experiment(cfg, address=args.address, fresh=args.fresh)
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


def _two_stream(args: argparse.Namespace) -> int:
    from raylab import experiments
    from raylab.train.trainer import connect, cpus_needed
    from raylab.two_stream import run_two_stream

    cfg = experiments.load(args.experiment, smoke=args.smoke, overrides=parse_overrides(args.set))
    cfg = experiments.ensure_data(cfg)
    # One Ray, sized for training, for the demo flow too (run_two_stream makes it if missing).
    connect(args.address, cpus_needed(cfg))
    result = run_two_stream(cfg, address=args.address)
    print(result.table())
    print(f"two-stream {cfg.name} finished in {result.seconds:.0f} s; MLflow parent run "
          f"{result.parent_run_id} in {result.tracking_uri}")
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
    p.add_argument("dataset", choices=["ucf101", "hmdb51", "sports1m", "imagenet"])
    p.add_argument("--root", required=True,
                   help="ucf101: holds UCF-101/ and ucfTrainTestlist/; hmdb51: holds the class "
                        "folders (brush_hair/, ...) and testTrainMulti_7030_splits/; sports1m: "
                        "holds labels.txt, {train,test}_partition.txt and videos/; imagenet: "
                        "holds LOC_synset_mapping.txt, train/, val/ (and LOC_val_solution.csv "
                        "when val/ is flat). A path or an s3:// / gs:// / file:// URI")
    p.add_argument("--split", type=int, choices=[1, 2, 3], default=1,
                   help="official split (ucf101, hmdb51)")
    p.add_argument("--out", required=True, help="shards folder: a path or s3:// / gs:// URI")
    ingest_defaults = IngestConfig()
    p.add_argument("--max-reject-fraction", type=float,
                   default=ingest_defaults.max_reject_fraction,
                   help="exit 2 when more of the listed files are rejected (default %(default)s)")
    p.add_argument("--shard-target-mb", type=float, default=ingest_defaults.shard_target_mb)
    p.add_argument("--segment-s", type=float, default=ingest_defaults.segment_s,
                   help="sports1m: seconds per keyframe-aligned segment row")
    p.add_argument("--val-fraction", type=float, default=ingest_defaults.val_fraction,
                   help="sports1m: share of train videos held out as val")
    p.add_argument("--address", default=None, help="Ray cluster address (default: local)")
    p.add_argument("--resize-px", type=int, default=256,
                   help="imagenet: shorter side of the training resize the pixel statistics "
                        "(mean image) are computed at (Krizhevsky et al.: 256)")
    p.set_defaults(handler=_ingest)

    p = sub.add_parser("flow", help="optical flow of every video in shards -> flow shards (Ray)")
    p.add_argument("--shards", required=True, help="a directory written by `raylab ingest`")
    p.add_argument("--out", required=True, help="flow shards go here; a rerun resumes")
    p.add_argument("--method", default=None, help="tvl1 (default), farneback, dis, raft_small, "
                                                  "raft_large")
    p.add_argument("--bound", type=float, default=None,
                   help="clip displacements to +-BOUND px before the 0-255 rescale (default 20)")
    p.add_argument("--size", type=int, default=None,
                   help="resize frames so the shorter side is SIZE px first (default 256)")
    p.add_argument("--raft-weights", default="", help="local RAFT state_dict for raft_*")
    p.add_argument("--workers", type=int, default=1, help="Ray workers (one CPU each)")
    p.add_argument("--gpus-per-worker", type=float, default=0.0)
    p.add_argument("--address", default=None, help="Ray cluster address (default: local)")
    p.add_argument("--fresh", action="store_true", help="discard flow already in --out")
    p.set_defaults(handler=_flow)
    p = sub.add_parser("subset", help="few-shot shards: N training videos per class, seeded")
    p.add_argument("--shards", required=True, help="a shards dir written by `raylab ingest`")
    p.add_argument("--out", required=True, help="new shards dir (test split linked unchanged)")
    p.add_argument("--per-class", type=int, required=True, metavar="N")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=_subset)

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

    p = sub.add_parser("two-stream", help="both two-stream nets, 25x10-view test, both fusions")
    p.add_argument("experiment", help="name in jobs/experiments/ or a path to a .py file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set temporal.stack_length=5")
    p.add_argument("--smoke", action="store_true", help="the experiment's smoke() variant")
    p.add_argument("--address", default=None, help="Ray cluster address (default: local)")
    p.set_defaults(handler=_two_stream)

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
