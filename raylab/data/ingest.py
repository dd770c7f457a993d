"""`raylab ingest {ucf101,hmdb51}`: one official split of a dataset -> Parquet shards + manifest.

List the split, probe every video in child processes (a decoder crash costs one file, not the
ingest), shuffle each split's rows so shards are not class-sorted, write the shards, then the
manifest. Every listed file that is not ingested is in manifest["rejected"] with its reason
(HMDB-51's flag-0 "unused" entries are not listed for the split: counted in progress only).
Plain processes, not Ray: probing only demuxes, and one machine gets through UCF-101 in minutes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np

from raylab.config import ConfigError
from raylab.data import columns as C
from raylab.data.shards import (
    SCHEMA_VERSION,
    BadVideo,
    VideoProbe,
    probe_video,
    write_manifest,
    write_shards,
)
from raylab.data.sources.hmdb51 import read_hmdb51
from raylab.data.sources.listing import VideoItem, VideoListing
from raylab.data.sources.ucf101 import VIDEO_DIR, read_ucf101

ProbeFn = Callable[[str], "VideoProbe | str"]
_WORKERS = 2
# Probes in flight at once; when a worker dies, only these are re-probed one at a time.
_WINDOW = 32
CRASHED = "decoder crashed"


def probe_path(path: str) -> VideoProbe | str:
    """Probe one file (runs in a child process): its VideoProbe, or the reason to reject it."""
    try:
        return probe_video(Path(path).read_bytes())
    except BadVideo as err:
        return err.reason
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    except Exception as err:
        # One odd file must not end the ingest: the reason lands in the manifest, and a bug
        # that rejects every file still fails the ingest (see _ingest_listing).
        return f"probe failed: {type(err).__name__}: {err}"


def probe_files(
    paths: Sequence[Path], *, probe: ProbeFn = probe_path,
    progress: Callable[[str], None] = print,
) -> list[VideoProbe | str]:
    """`probe(path)` for every path, in order, in child processes; a file whose probe kills
    its process gets CRASHED and the rest go on in a fresh pool."""
    results: list[VideoProbe | str] = []
    if not paths:
        return results
    step = max(1, -(-len(paths) // 10))  # ceil: at most ~10 progress lines
    pool = _new_pool()
    try:
        for start in range(0, len(paths), _WINDOW):
            window = [str(p) for p in paths[start:start + _WINDOW]]
            outcomes, pool = _probe_window(pool, window, probe)
            for outcome in outcomes:
                results.append(outcome)
                if len(results) % step == 0 or len(results) == len(paths):
                    progress(f"ingest: {len(results)}/{len(paths)} videos probed")
    finally:
        pool.shutdown(cancel_futures=True)
    return results


def _new_pool() -> ProcessPoolExecutor:
    """A started pool whose workers are known to run, so a later death is blamed on a file."""
    # spawn, not fork: the caller may hold Ray or torch threads, and forking a threaded process
    # can deadlock the child.
    spawn = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=_WORKERS, mp_context=spawn)
    try:
        pool.submit(os.getpid).result()
    except BrokenProcessPool:
        pool.shutdown(wait=False)
        raise RuntimeError(
            "ingest: probe worker processes die before running anything; when calling ingest "
            "from a script, put the call under `if __name__ == '__main__':` (multiprocessing "
            "spawn re-imports the script in every worker)"
        ) from None
    return pool


def _probe_window(
    pool: ProcessPoolExecutor, window: list[str], probe: ProbeFn,
) -> tuple[list[VideoProbe | str], ProcessPoolExecutor]:
    futures: list[Future | None] = []
    for path in window:
        try:
            futures.append(pool.submit(probe, path))
        except BrokenProcessPool:
            futures.append(None)
    outcomes: list[VideoProbe | str | None] = []
    for future in futures:
        try:
            outcomes.append(future.result() if future is not None else None)
        except BrokenProcessPool:
            outcomes.append(None)
    if any(o is None for o in outcomes):
        # A dead worker fails every probe in flight and we cannot tell whose file killed it:
        # re-probe each of those alone, so a crash then names its file.
        pool.shutdown(wait=False, cancel_futures=True)
        pool = _new_pool()
        for i, outcome in enumerate(outcomes):
            if outcome is None:
                outcomes[i], pool = _probe_alone(pool, window[i], probe)
    return [o for o in outcomes if o is not None], pool


def _probe_alone(
    pool: ProcessPoolExecutor, path: str, probe: ProbeFn,
) -> tuple[VideoProbe | str, ProcessPoolExecutor]:
    try:
        return pool.submit(probe, path).result(), pool
    except BrokenProcessPool:
        pool.shutdown(wait=False, cancel_futures=True)
        return CRASHED, _new_pool()


def ingest_ucf101(
    root: Path, split: int, out: Path, *, seed: int = 0,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Shards of UCF-101 split `split` (1..3) under `out`; returns the manifest it wrote."""
    root = Path(root)
    listing = read_ucf101(root, split)
    return _ingest_listing(listing, root / VIDEO_DIR, Path(out), dataset="ucf101", split=split,
                           seed=seed, progress=progress)


def ingest_hmdb51(
    root: Path, split: int, out: Path, *, seed: int = 0,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Shards of HMDB-51 split `split` (1..3) under `out`; returns the manifest it wrote."""
    root = Path(root)
    listing = read_hmdb51(root, split)
    progress(f"ingest: split {split} flags {len(listing.unused)} videos 0 (unused), left out")
    return _ingest_listing(listing, root, Path(out), dataset="hmdb51", split=split,
                           seed=seed, progress=progress)


def _ingest_listing(
    listing: VideoListing, videos: Path, out: Path, *, dataset: str, split: int, seed: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Probe, shuffle and write the listed items (paths under `videos`), then the manifest."""
    rejected = [{"path": p, "reason": r} for p, r in listing.missing + listing.duplicates]
    progress(f"ingest: split {split} lists {len(listing.items)} videos on disk "
             f"({len(rejected)} missing or duplicate entries)")
    probes = probe_files([videos / item.rel_path for item in listing.items], progress=progress)
    rows: dict[str, list[dict[str, Any]]] = {split_name: [] for split_name in C.SHARD_SPLITS}
    for item, probe in zip(listing.items, probes, strict=True):
        if isinstance(probe, str):
            rejected.append({"path": item.rel_path, "reason": probe})
        else:
            rows[item.split].append(_row(item, probe))
    rejected.sort(key=lambda r: r["path"])
    if not any(rows.values()):
        example = f", e.g. {rejected[0]['path']}: {rejected[0]['reason']}" if rejected else ""
        raise ConfigError(f"{videos}: expected usable videos in split {split}, but every listed "
                          f"video was rejected{example}")
    # Seeded per split, so the same inputs give byte-identical shards.
    rng = np.random.default_rng(seed)
    shuffled = {s: [r[i] for i in rng.permutation(len(r))] for s, r in rows.items()}
    files = write_shards({s: _with_bytes(r, videos) for s, r in shuffled.items()}, out)
    manifest = {
        "dataset": dataset,
        "split": split,
        "classes": listing.classes,
        "counts": {s: len(r) for s, r in rows.items()},
        "rejected": rejected,
        "files": files,
        "schema_version": SCHEMA_VERSION,
    }
    write_manifest(out, manifest)  # last: its presence means the shards are complete
    counts = manifest["counts"]
    progress(f"ingest: wrote {counts['train']} train and {counts['test']} test videos to {out} "
             f"({len(rejected)} rejected)")
    return manifest


def _row(item: VideoItem, probe: VideoProbe) -> dict[str, Any]:
    """A shard row without its bytes (read only when written, so memory stays flat)."""
    return {
        C.VIDEO_ID: item.rel_path.removesuffix(".avi"),
        C.LABEL: item.label,
        C.CLASS_NAME: item.class_name,
        C.SPLIT: item.split,
        C.GROUP: item.group,
        C.NUM_FRAMES: probe.num_frames,
        C.FRAME_PTS: probe.frame_pts,
        C.TIME_BASE: probe.time_base,
        C.FPS: probe.fps,
        C.WIDTH: probe.width,
        C.HEIGHT: probe.height,
        C.CODEC: probe.codec,
        C.SOURCE_PATH: item.rel_path,
    }


def _with_bytes(rows: list[dict[str, Any]], videos: Path) -> Iterator[dict[str, Any]]:
    for row in rows:
        yield {**row, C.VIDEO_BYTES: (videos / row[C.SOURCE_PATH]).read_bytes()}
