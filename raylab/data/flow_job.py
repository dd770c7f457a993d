"""`raylab flow`: optical flow of every video in a shards directory -> flow shards, on Ray Data.

The unit of work is one row group of a video shard (a few videos) -> one flow part,
out/<split>/<shard>-rg<NNNNN>.flow.parquet, written atomically by the Ray worker that computed it. A
rerun schedules only the parts not on disk (resume); the manifest is written last, from the parts'
footers. Per video: decode every frame with the shorter side resized to `size_px`, flow between
consecutive frames, quantise each field to two JPEGs. A video that fails is a reject with its
reason, never fatal. Throughput grows with `workers` (one actor per CPU, one OpenCV thread each).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow.parquet as pq
import ray
import ray.data

from raylab.config import ConfigError, FlowConfig, from_dict, to_dict
from raylab.data import columns as C
from raylab.data.decode import DecodeError, decode_video
from raylab.data.flow_shards import (
    DEFAULT_JPEG_QUALITY,
    FLOW_KIND,
    part_rows,
    quantise,
    read_part_rejects,
    write_flow_manifest,
    write_flow_part,
)
from raylab.data.optical_flow import FlowEstimator
from raylab.data.shards import read_manifest

JOB_FILE = "flow_job.json"
"""The settings and source the parts on disk were computed from; a rerun must match them."""
_READ_COLUMNS = [C.VIDEO_ID, C.LABEL, C.CLASS_NAME, C.SPLIT, C.GROUP, C.VIDEO_BYTES, C.FRAME_PTS]
# Flow fields held as float at once per video (8 x 256x341x2 float32 = 5.6 MB): the frames of a
# long video are decoded whole, but its flow is quantised as it is computed.
_CHUNK_PAIRS = 8
_PART_SUFFIX = ".flow.parquet"  # what --fresh deletes: never a file this job did not write


@dataclass(frozen=True)
class FlowRun:
    manifest: dict[str, Any]
    parts_computed: int
    parts_skipped: int
    pairs_computed: int
    seconds: float


def run_flow(
    shards: Path, out: Path, cfg: FlowConfig, *, workers: int = 1, gpus_per_worker: float = 0.0,
    address: str | None = None, fresh: bool = False, progress: Callable[[str], None] = print,
) -> FlowRun:
    """Flow shards under `out` for every video of `shards`; resumes an interrupted run."""
    shards, out = Path(shards).resolve(), Path(out).resolve()
    source = read_manifest(shards)
    if workers < 1:
        raise ConfigError(f"workers: expected >= 1, got {workers}")
    FlowEstimator(cfg.method, raft_weights=cfg.raft_weights)  # bad method/weights: fail here
    _claim(out, _job_identity(cfg, shards, source), fresh=fresh)
    items = plan_parts(shards, source)
    todo = [item for item in items if not (out / item["part"]).exists()]
    progress(f"flow: {len(items)} parts ({sum(source['counts'].values())} videos), "
             f"{len(items) - len(todo)} already done, {len(todo)} to compute with {workers} "
             f"{cfg.method} worker(s)")
    start = time.perf_counter()
    pairs = 0
    if todo:
        _connect(address, workers, gpus_per_worker)
        for done, result in enumerate(_flow_dataset(todo, cfg, out, workers, gpus_per_worker)
                                      .iter_rows(), start=1):
            pairs += int(result["pairs"])
            rate = pairs / (time.perf_counter() - start)
            progress(f"flow: {done}/{len(todo)} parts, {result['part']}: {result['videos']} "
                     f"videos, {result['rejects']} rejected ({rate:.1f} pairs/s overall)")
    manifest = _finish(out, items, cfg, shards, source)
    seconds = time.perf_counter() - start
    progress(f"flow: wrote {manifest['splits']['train']} train and {manifest['splits']['test']} "
             f"test videos to {out} ({len(manifest['rejects'])} rejected) in {seconds:.0f} s")
    return FlowRun(manifest, len(todo), len(items) - len(todo), pairs, seconds)


def plan_parts(shards: Path, source: dict[str, Any]) -> list[dict[str, Any]]:
    """One item per row group of every video shard: {split, file, row_group, part}."""
    items = []
    for split in C.SHARD_SPLITS:
        for rel in source["files"].get(split, []):
            path = shards / rel
            for group in range(pq.ParquetFile(path).num_row_groups):
                items.append({"split": split, "file": str(path), "row_group": group,
                              "part": f"{split}/{Path(rel).stem}-rg{group:05d}{_PART_SUFFIX}"})
    return items


def _job_identity(cfg: FlowConfig, shards: Path, source: dict[str, Any]) -> dict[str, Any]:
    return {**to_dict(cfg), "jpeg_quality": DEFAULT_JPEG_QUALITY,
            "source_shards": str(shards), "source_files": source["files"]}


def _claim(out: Path, identity: dict[str, Any], *, fresh: bool) -> None:
    """Make `out` hold parts of this job only: a rerun with other settings would mix flows."""
    job = out / JOB_FILE
    if fresh:
        for part in out.glob(f"*/*{_PART_SUFFIX}"):
            part.unlink()
        job.unlink(missing_ok=True)
    if job.exists():
        try:
            before = json.loads(job.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"{job}: unreadable ({type(err).__name__}); pass --fresh to "
                              f"start over") from None
        if before != identity:
            changed = sorted(k for k in identity if before.get(k) != identity[k])
            raise ConfigError(f"{out}: holds flow computed with other settings ("
                              f"{', '.join(changed)} differ); pass --fresh to discard it, or use "
                              f"another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / C.MANIFEST).unlink(missing_ok=True)  # the run is not complete until it is rewritten
    for stale in out.glob("*/*.tmp"):
        stale.unlink()  # a killed writer's half file; its part was never renamed into place
    job.write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")


def _connect(address: str | None, workers: int, gpus_per_worker: float) -> None:
    """Join the cluster at `address` (or RAY_ADDRESS), else start a local Ray with a CPU per
    worker (logical CPUs may exceed cores: workers then take turns)."""
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            ray.init(num_cpus=max(workers, os.cpu_count() or 1), dashboard_host="127.0.0.1",
                     log_to_driver=True, logging_config=ray.LoggingConfig(log_level="WARNING"))
    have = ray.cluster_resources()
    if have.get("CPU", 0) < workers or have.get("GPU", 0) < workers * gpus_per_worker:
        raise ConfigError(f"workers: {workers} flow workers need {workers} CPUs and "
                          f"{workers * gpus_per_worker:g} GPUs, the Ray cluster has "
                          f"{have.get('CPU', 0):g} and {have.get('GPU', 0):g}")


def _flow_dataset(
    todo: list[dict[str, Any]], cfg: FlowConfig, out: Path, workers: int, gpus_per_worker: float,
) -> ray.data.Dataset:
    ds = ray.data.from_items(todo, override_num_blocks=len(todo))
    # [1] One actor per worker builds its estimator once (RAFT loads weights there); one part per
    # call, so the results stream back as each part lands on disk.
    return ds.map_batches(
        FlowWorker, fn_constructor_kwargs={"cfg": to_dict(cfg), "out": str(out)},
        batch_size=1, batch_format="numpy", num_cpus=1, num_gpus=gpus_per_worker or None,
        compute=ray.data.ActorPoolStrategy(size=min(workers, len(todo))),
    )


class FlowWorker:
    """Ray Data actor: computes and writes the flow part of each row group it is given."""

    def __init__(self, cfg: dict[str, Any], out: str) -> None:
        # One thread per worker: Ray gives each worker one CPU, more would oversubscribe it.
        cv2.setNumThreads(1)
        self.cfg: FlowConfig = from_dict(FlowConfig, cfg)
        self.out = Path(out)
        self.estimator = FlowEstimator(self.cfg.method, raft_weights=self.cfg.raft_weights)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [compute_part(
            {k: batch[k][i] for k in batch}, self.estimator, self.cfg, self.out)
            for i in range(len(batch["part"]))]
        return {k: np.asarray([r[k] for r in results]) for k in results[0]}


def compute_part(
    item: dict[str, Any], estimator: FlowEstimator, cfg: FlowConfig, out: Path,
) -> dict[str, Any]:
    """Flow of one row group's videos, written to out/item["part"]; returns a summary."""
    table = pq.ParquetFile(str(item["file"])).read_row_group(int(item["row_group"]),
                                                            columns=_READ_COLUMNS)
    rows, rejects, pairs = [], [], 0
    for video in table.to_pylist():
        try:
            rows.append(flow_row(video, estimator, cfg))
            pairs += rows[-1][C.NUM_FLOWS]
        except (DecodeError, ValueError, cv2.error) as err:
            stage = "decode" if isinstance(err, DecodeError) else "flow"
            detail = " ".join(str(err).split())  # OpenCV errors span lines; the manifest wants one
            rejects.append({"video_id": video[C.VIDEO_ID], "reason": f"{stage} failed: {detail}"})
    write_flow_part(rows, out / str(item["part"]), rejects=rejects)
    return {"part": str(item["part"]), "videos": len(rows), "rejects": len(rejects),
            "pairs": pairs}


def flow_row(video: dict[str, Any], estimator: FlowEstimator, cfg: FlowConfig) -> dict[str, Any]:
    """One video shard row -> one flow shard row."""
    frames = decode_video(video[C.VIDEO_BYTES], video[C.FRAME_PTS], short_side_px=cfg.size_px)
    xs, ys = [], []
    for start in range(0, len(frames) - 1, _CHUNK_PAIRS):
        for flow in estimator.video(frames[start:start + _CHUNK_PAIRS + 1]):
            x, y = quantise(flow, cfg.bound_px)
            xs.append(x)
            ys.append(y)
    return {C.VIDEO_ID: video[C.VIDEO_ID], C.LABEL: video[C.LABEL],
            C.CLASS_NAME: video[C.CLASS_NAME], C.SPLIT: video[C.SPLIT], C.GROUP: video[C.GROUP],
            C.NUM_FLOWS: len(xs), C.HEIGHT: frames.shape[1], C.WIDTH: frames.shape[2],
            C.FLOW_X: xs, C.FLOW_Y: ys}


def _finish(
    out: Path, items: list[dict[str, Any]], cfg: FlowConfig, shards: Path,
    source: dict[str, Any],
) -> dict[str, Any]:
    missing = [item["part"] for item in items if not (out / item["part"]).exists()]
    if missing:
        raise RuntimeError(f"flow: {len(missing)} parts were not written (first {missing[0]}); "
                           f"rerun the same command to compute them")
    # The source's splits (Sports-1M has a val split, UCF-101 none).
    files = {s: [i["part"] for i in items if i["split"] == s]
             for s in C.SHARD_SPLITS if s in source["files"]}
    rejects = sorted((r for i in items for r in read_part_rejects(out / i["part"])),
                     key=lambda r: r["video_id"])
    manifest = {
        "kind": FLOW_KIND, "method": str(cfg.method), "bound": cfg.bound_px, "size": cfg.size_px,
        "jpeg_quality": DEFAULT_JPEG_QUALITY, "classes": source["classes"],
        "source_shards": str(shards),
        "splits": {s: sum(part_rows(out / p) for p in parts) for s, parts in files.items()},
        "files": files, "rejects": rejects,
    }
    write_flow_manifest(out, manifest)  # last: its presence means the flow shards are complete
    return manifest
