"""Video input pipeline: clips/s of raylab's Ray Data pipeline against two baselines, same run.

(a) bare PyAV loop: one 10-frame clip per video, seeking to the keyframe before it (the decode
    limit of one core); (b) the naive way: a torch DataLoader whose dataset decodes the whole
    video per sample and slices the clip; (c) raylab: shards -> Ray Data -> decoded clips, read by
    a consumer (no training); (d) the same row-group work as (c) (Parquet read, clip plan,
    decode) run in this process without Ray, which splits (c)'s cost between decoding and Ray
    Data's dispatch and object store. All decode the same videos, 1 clip each, resized to --size.
Prints clips/s, clips/s per decode core and the ratios c/a (per core), c/b and d/a. Then memory:
peak PSS (proportional set size, so shared object-store pages count once) of this process and every
process it started (Ray's raylet, workers, object store) while (c) streams the dataset at 1x and at
10x (the shard list repeated 10 times: 10x the row groups through the same pipeline), and
the 10x/1x ratio (target: flat, ~1).

    python bench/input_pipeline.py [--videos 200] [--frames 75] [--decode-cpus 1] [--repeats 3]

--frames sets the videos' length at 25 fps: the naive baseline (b) decodes every frame, so its
cost grows with length while (a) and (c) decode one clip; UCF-101 videos average about 7 s
(--frames 175).
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch

from raylab.config import DecodeBackend
from raylab.data.clips import plan_train_clips
from raylab.data.decode import decode_clip
from raylab.data.ingest import ingest_ucf101
from raylab.data.shards import read_manifest
from raylab.data.sources.synthetic import SyntheticSpec, write_ucf101

CLIP_FRAMES = 10


def _make_data(root: Path, videos: int, frames: int) -> Path:
    groups = max(8, -(-videos // 8))  # 8 classes per group
    write_ucf101(root / "raw", SyntheticSpec(num_groups=groups, num_frames=frames, seed=1))
    ingest_ucf101(root / "raw", 1, root / "shards", progress=lambda _: None)
    return root / "shards"


def _rows(shards: Path) -> list[dict]:
    import pyarrow.parquet as pq

    manifest = read_manifest(shards)
    files = manifest["files"]["train"] + manifest["files"]["test"]
    return [r for f in files for r in pq.read_table(shards / f).to_pylist()]


def _plan(row: dict) -> list[int]:
    return plan_train_clips(row["video_id"], row["num_frames"], num_frames=CLIP_FRAMES,
                            frame_step=1, clips_per_video=1, seed=0, epoch=0)[0]


def bare_pyav(rows: list[dict], size: int) -> float:
    start = time.perf_counter()
    for row in rows:
        decode_clip(row["video_bytes"], row["frame_pts"], _plan(row), size_px=size)
    return len(rows) / (time.perf_counter() - start)


class _WholeVideo(torch.utils.data.Dataset):
    """The naive dataset: decode every frame of the video, then take the clip."""

    def __init__(self, rows: list[dict], size: int) -> None:
        self.rows, self.size = rows, size

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> torch.Tensor:
        row = self.rows[i]
        with av.open(io.BytesIO(row["video_bytes"])) as c:
            frames = [f.to_image() for f in c.decode(video=0)]
        side = min(frames[0].size)
        left = (frames[0].size[0] - side) // 2
        clip = [np.asarray(frames[j].resize((self.size, self.size), box=(left, 0, left + side,
                                                                         side)))
                for j in _plan(row)]
        return torch.from_numpy(np.stack(clip))


def naive_loader(rows: list[dict], size: int, workers: int) -> float:
    loader = torch.utils.data.DataLoader(_WholeVideo(rows, size), batch_size=8,
                                         num_workers=workers)
    start = time.perf_counter()
    n = sum(len(b) for b in loader)
    return n / (time.perf_counter() - start)


def raylab_pipeline(shards: Path, size: int, scale: int = 1) -> float:
    from raylab.data.pipeline import ClipRequest, train_dataset

    manifest = read_manifest(shards)
    files = [str(shards / f) for f in manifest["files"]["train"] + manifest["files"]["test"]]
    ds = train_dataset(files * scale, ClipRequest(CLIP_FRAMES, 1, size, 1), seed=0,
                       epochs=range(1))
    start = time.perf_counter()
    n = sum(len(b["frames"]) for b in ds.iter_batches(batch_size=16, batch_format="numpy"))
    return n / (time.perf_counter() - start)


def in_process(shards: Path, size: int) -> float:
    # The pipeline's own per-row-group functions (private: this row exists to split (c)'s cost).
    from raylab.data import pipeline as P

    manifest = read_manifest(shards)
    files = [str(shards / f) for f in manifest["files"]["train"] + manifest["files"]["test"]]
    plan = functools.partial(P._train_plan, num_frames=CLIP_FRAMES, frame_step=1,
                             clips_per_video=1, seed=0)
    rows = functools.partial(P._decode_rows, plan=plan, size_px=size, backend=DecodeBackend.PYAV)
    groups = P._groups(files, epoch=0)
    items = {k: np.array([g[k] for g in groups], dtype=object) for k in ("file", "row_group",
                                                                         "epoch")}
    start = time.perf_counter()
    n = sum(len(block["frames"]) for block in P._clip_row_groups(items, rows=rows))
    return n / (time.perf_counter() - start)


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:")) * 1024
    except (OSError, StopIteration):
        return 0  # the process ended between listing and reading


def _tree_pss() -> int:
    """PSS of this process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += _pss_bytes(pid)
        todo += children.get(pid, [])
    return total


def peak_memory(fn: Callable[[], float]) -> tuple[float, int]:
    """(fn's result, peak PSS in bytes of the process tree while fn ran), sampled every 50 ms."""
    peak = [_tree_pss()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _tree_pss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = fn()
    finally:
        done.set()
        sampler.join()
    return result, peak[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=200)
    p.add_argument("--frames", type=int, default=75)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--decode-cpus", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()

    import ray

    # Ray Data gets exactly --decode-cpus CPUs: the per-core comparison is then fair.
    ray.init(num_cpus=a.decode_cpus, dashboard_host="127.0.0.1", log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    with tempfile.TemporaryDirectory() as tmp:
        shards = _make_data(Path(tmp), a.videos, a.frames)
        rows = _rows(shards)
        res = {"a": [], "b": [], "c": [], "d": []}
        for _ in range(a.repeats):
            res["a"].append(bare_pyav(rows, a.size))
            res["b"].append(naive_loader(rows, a.size, a.decode_cpus))
            res["c"].append(raylab_pipeline(shards, a.size))
            res["d"].append(in_process(shards, a.size))
        mem = {k: peak_memory(lambda k=k: raylab_pipeline(shards, a.size, scale=k))
               for k in (1, 10)}
    ray.shutdown()
    med = {k: statistics.median(v) for k, v in res.items()}
    cores = {"a": 1, "b": a.decode_cpus, "c": a.decode_cpus, "d": 1}
    names = {"a": "bare PyAV seek loop", "b": "naive whole-video DataLoader",
             "c": "raylab Ray Data pipeline", "d": "(c)'s row-group work, no Ray"}
    print(f"\n{len(rows)} videos (320x240 MPEG-4, {a.frames} frames), 1 clip of "
          f"{CLIP_FRAMES} frames each at {a.size} px, median of {a.repeats}")
    print(f"{'':<32}{'clips/s':>9}{'per core':>10}")
    for k in "abcd":
        print(f"{names[k]:<32}{med[k]:>9.1f}{med[k] / cores[k]:>10.1f}")
    per_core = (med["c"] / cores["c"]) / (med["a"] / cores["a"])
    print(f"c/a per decode core: {per_core:.2f} (target >= 0.8)   c/b: {med['c'] / med['b']:.2f} "
          f"(target >= 5)   d/a: {med['d'] / med['a']:.2f}")
    print("\nraylab pipeline memory (peak PSS of driver + Ray processes, one pass each; clips/s "
          "here are slowed by the 50 ms /proc sampler)")
    print(f"{'dataset':<32}{'clips':>9}{'clips/s':>9}{'peak MiB':>10}")
    for k, (rate, peak) in mem.items():
        print(f"{f'{k}x ({k * len(rows)} videos)':<32}{k * len(rows):>9}{rate:>9.1f}"
              f"{peak / 2**20:>10.0f}")
    print(f"peak memory 10x/1x: {mem[10][1] / mem[1][1]:.2f} (target: flat, ~1)")


if __name__ == "__main__":
    main()
