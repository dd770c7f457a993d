"""Optical flow: TV-L1 frame pairs/s in a plain process vs `raylab flow` on 1 and 2 Ray workers,
and each method's end-point error (EPE) against TV-L1 and against a known shift, same run.

(a) plain: one process, one OpenCV thread, decode + TV-L1 + quantise every video in a loop;
(b) `raylab flow`, 1 worker; (c) `raylab flow`, 2 workers: the whole job (Ray Data actors start,
    decode, flow, quantise, write parts, manifest), wall time from call to return.
All three do the same videos at --size. Ratios b/a, c/a and c/b (the worker scaling) are medians
of --repeats. EPE: farneback, dis (and raft_small/raft_large with --raft-weights) against TV-L1
on the same decoded frames, and every method against the true shift of a textured image.

    python bench/flow.py [--videos 32] [--frames 7] [--size 96] [--repeats 3] [--raft-weights F]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq

from raylab.config import FlowConfig, FlowMethod
from raylab.data.decode import decode_video
from raylab.data.flow_job import flow_row, run_flow
from raylab.data.ingest import ingest_ucf101
from raylab.data.optical_flow import FlowEstimator
from raylab.data.shards import read_manifest
from raylab.data.sources.synthetic import SyntheticSpec, write_ucf101

_SHIFT = (2.5, -1.5)  # px right, px down: sub-pixel on purpose
_EPE_PAIRS = 8


def _make_data(root: Path, videos: int, frames: int) -> Path:
    # 8 classes (2 shapes x 4 directions), one clip per group: videos / 8 groups.
    spec = SyntheticSpec(num_groups=max(1, videos // 8), num_frames=frames, seed=1)
    write_ucf101(root / "raw", spec)
    ingest_ucf101(root / "raw", 1, root / "shards", progress=lambda _: None)
    return root / "shards"


def _rows(shards: Path) -> list[dict]:
    manifest = read_manifest(shards)
    return [r for s in ("train", "test") for f in manifest["files"][s]
            for r in pq.read_table(shards / f).to_pylist()]


def plain(rows: list[dict], cfg: FlowConfig) -> tuple[float, int]:
    """(pairs/s, pairs) of the job's per-video work in a plain loop."""
    estimator = FlowEstimator(cfg.method)
    start = time.perf_counter()
    pairs = sum(flow_row(row, estimator, cfg)["num_flows"] for row in rows)
    return pairs / (time.perf_counter() - start), pairs


def job(shards: Path, out: Path, cfg: FlowConfig, workers: int) -> tuple[float, int]:
    start = time.perf_counter()
    run = run_flow(shards, out, cfg, workers=workers, fresh=True, progress=lambda _: None)
    return run.pairs_computed / (time.perf_counter() - start), run.pairs_computed


def _texture(h: int, w: int) -> np.ndarray:
    noise = np.random.default_rng(0).uniform(0, 255, (h, w, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2.0)
    return np.rint((blurred - blurred.min()) / np.ptp(blurred) * 255).astype(np.uint8)


def _epe(a: np.ndarray, b: np.ndarray, margin: int = 0) -> float:
    inner = (Ellipsis, slice(margin, a.shape[-3] - margin), slice(margin, a.shape[-2] - margin),
             slice(None))
    d = a[inner] - b[inner]
    return float(np.hypot(d[..., 0], d[..., 1]).mean())


def accuracy(rows: list[dict], methods: list[FlowMethod], raft_weights: str) -> list[tuple]:
    """(method, EPE vs TV-L1 on video pairs, EPE vs the true shift, pairs/s) per method.

    Frames at 128 px (RAFT's smallest input) so every method sees the same pairs."""
    size = 128
    frames = [decode_video(r["video_bytes"], r["frame_pts"], short_side_px=size) for r in rows]
    pairs = [(f[i], f[i + 1]) for f in frames for i in range(len(f) - 1)][:_EPE_PAIRS]
    prev = _texture(size + 32, size * 4 // 3)
    move = np.float32([[1, 0, _SHIFT[0]], [0, 1, _SHIFT[1]]])
    nxt = cv2.warpAffine(prev, move, prev.shape[1::-1], flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)
    truth = np.broadcast_to(np.float32(_SHIFT), prev.shape[:2] + (2,))
    reference = None
    out = []
    for method in [FlowMethod.TVL1, *methods]:
        estimator = FlowEstimator(method, raft_weights=raft_weights)
        start = time.perf_counter()
        flows = np.stack([estimator(a, b) for a, b in pairs])
        rate = len(pairs) / (time.perf_counter() - start)
        reference = flows if reference is None else reference
        shift = _epe(estimator(prev, nxt), truth, margin=12)
        out.append((method, _epe(flows, reference), shift, rate))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=32)
    p.add_argument("--frames", type=int, default=7, help="frames per video (pairs = frames - 1)")
    p.add_argument("--size", type=int, default=96, help="shorter side of the flow, px")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--raft-weights", default="", help="local RAFT state_dict: adds raft rows")
    p.add_argument("--raft", choices=["raft_small", "raft_large"], default="raft_small")
    a = p.parse_args()

    import ray

    cv2.setNumThreads(1)  # the plain baseline gets one core, as each Ray worker does
    ray.init(num_cpus=2, dashboard_host="127.0.0.1", log_to_driver=False,
             logging_config=ray.LoggingConfig(log_level="WARNING"))
    ray.data.DataContext.get_current().enable_progress_bars = False
    cfg = FlowConfig(method=FlowMethod.TVL1, size_px=a.size)
    with tempfile.TemporaryDirectory() as tmp:
        shards = _make_data(Path(tmp), a.videos, a.frames)
        rows = _rows(shards)
        res: dict[str, list[float]] = {"a": [], "b": [], "c": []}
        for _ in range(a.repeats):
            res["a"].append(plain(rows, cfg)[0])
            res["b"].append(job(shards, Path(tmp) / "flow", cfg, 1)[0])
            res["c"].append(job(shards, Path(tmp) / "flow", cfg, 2)[0])
        methods = [FlowMethod.FARNEBACK, FlowMethod.DIS]
        if a.raft_weights:
            methods.append(FlowMethod(a.raft))
        acc = accuracy(rows, methods, a.raft_weights)
    ray.shutdown()

    med = {k: statistics.median(v) for k, v in res.items()}
    pairs = len(rows) * (a.frames - 1)
    print(f"\n{len(rows)} videos x {a.frames - 1} pairs = {pairs} TV-L1 pairs at {a.size} px "
          f"shorter side, median of {a.repeats}")
    names = {"a": "plain process (1 core)", "b": "raylab flow, 1 Ray worker",
             "c": "raylab flow, 2 Ray workers"}
    print(f"{'':<30}{'pairs/s':>9}{'vs plain':>10}")
    for k in "abc":
        print(f"{names[k]:<30}{med[k]:>9.2f}{med[k] / med['a']:>10.2f}")
    print(f"worker scaling c/b: {med['c'] / med['b']:.2f} (ideal 2.00 on 2 free cores)")
    # Scaling needs idle cores: on a shared machine the load tells whether it had them.
    print(f"load average over the last 15 min: {os.getloadavg()[2]:.1f} on {os.cpu_count()} "
          f"cores")
    print(f"\nEPE in px on {_EPE_PAIRS} video pairs at 128 px; true shift {_SHIFT} px on a "
          f"textured image")
    print(f"{'method':<12}{'vs TV-L1':>10}{'vs truth':>10}{'pairs/s':>9}")
    for method, vs_tvl1, vs_truth, rate in acc:
        print(f"{method:<12}{vs_tvl1:>10.3f}{vs_truth:>10.3f}{rate:>9.1f}")


if __name__ == "__main__":
    main()
