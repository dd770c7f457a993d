"""`raylab ingest {ucf101,hmdb51,sports1m}`: a dataset's listing -> Parquet shards + manifest.

A Ray Data job, so it spreads over a cluster: list (driver: parse split files, stat sizes) -> plan
shards (seeded shuffle per split, a new part every ~shard_target_mb of source bytes: the same
inputs always give the same plan) -> one task per unfinished part: read each video, validate it
(probe; cut long videos into segments) in a child process, write the part, then its done record
-> the manifest, last and atomically. A rerun skips every part whose done record matches its plan,
so an interrupted ingest resumes. Paths are local or s3:// / gs:// / file:// URIs.
Every listed file that is not ingested is in manifest["rejected"] with its reason; a decoder that
kills its process costs that one file (isolate.py). Rows of one part keep their videos' segments
together (a part is written in one pass, never held whole in memory).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.fs as pafs
import ray
import ray.data

from raylab.config import ConfigError, IngestConfig, to_dict
from raylab.data import columns as C
from raylab.data.isolate import IsolatedPool
from raylab.data.segments import cut_segments
from raylab.data.shards import (
    SCHEMA_VERSION,
    BadVideo,
    ShardWriter,
    VideoProbe,
    filesystem,
    join,
    probe_video,
    read_json,
    write_json,
    write_manifest,
)
from raylab.data.sources.hmdb51 import read_hmdb51
from raylab.data.sources.listing import VideoItem, VideoListing
from raylab.data.sources.sports1m import read_sports1m
from raylab.data.sources.ucf101 import VIDEO_DIR, read_ucf101

# Videos handed to the child process at once: enough to hide its start-up, few enough that the
# bytes in flight stay small (a Sports-1M video is tens of MB).
_WINDOW = 4
_DONE_DIR = "_done"
_ABSENT_SAMPLE = 20


class TooManyRejects(ConfigError):
    """More of the listed videos were rejected than ingest.max_reject_fraction allows."""


@dataclass(frozen=True)
class Source:
    """One video to read and validate: where it is, and whether to cut it into segments."""

    uri: str
    segment_s: float | None
    """Seconds per keyframe-aligned segment; None keeps the video whole."""


Prepared = list[tuple[bytes, VideoProbe]]
PrepareFn = Callable[[Source], "Prepared | str"]


def prepare_video(source: Source) -> Prepared | str:
    """Read, probe and (maybe) cut one video; runs in a child process. Returns the rows' bytes
    with their probes (one per segment), or the reason to reject the file."""
    try:
        fs, path = filesystem(source.uri)
        with fs.open_input_stream(path) as f:
            data = f.read()
        probe = probe_video(data)
        if source.segment_s is None:
            return [(data, probe)]
        return [(piece, probe_video(piece)) for piece in cut_segments(data, source.segment_s)]
    except BadVideo as err:
        return err.reason
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    except Exception as err:
        # One odd file must not end the ingest: the reason lands in the manifest, and a bug
        # that rejects every file still fails the ingest (see ingest_listing).
        return f"probe failed: {type(err).__name__}: {err}"


def ingest_ucf101(
    root: Path, split: int, out: str | Path, *, cfg: IngestConfig = IngestConfig(),
    progress: Callable[[str], None] = print, prepare: PrepareFn = prepare_video,
    address: str | None = None,
) -> dict[str, Any]:
    """Shards of UCF-101 split `split` (1..3) under `out`; returns the manifest it wrote."""
    listing = read_ucf101(Path(root), split)
    return ingest_listing(listing, Path(root) / VIDEO_DIR, out, dataset="ucf101", split=split,
                          cfg=cfg, progress=progress, prepare=prepare, address=address)


def ingest_hmdb51(
    root: Path, split: int, out: str | Path, *, cfg: IngestConfig = IngestConfig(),
    progress: Callable[[str], None] = print, prepare: PrepareFn = prepare_video,
    address: str | None = None,
) -> dict[str, Any]:
    """Shards of HMDB-51 split `split` (1..3) under `out`; returns the manifest it wrote."""
    listing = read_hmdb51(Path(root), split)
    progress(f"ingest: split {split} flags {len(listing.unused)} videos 0 (unused), left out")
    return ingest_listing(listing, Path(root), out, dataset="hmdb51", split=split, cfg=cfg,
                          progress=progress, prepare=prepare, address=address)


def ingest_sports1m(
    root: str | Path, out: str | Path, *, cfg: IngestConfig = IngestConfig(),
    progress: Callable[[str], None] = print, prepare: PrepareFn = prepare_video,
    address: str | None = None,
) -> dict[str, Any]:
    """Segment shards of Sports-1M (train, a seeded val carved from train, test) under `out`."""
    listing, videos = read_sports1m(root, val_fraction=cfg.val_fraction, seed=cfg.seed)
    progress(f"ingest: {len(listing.absent)} listed videos are not downloaded, left out")
    return ingest_listing(listing, videos, out, dataset="sports1m", split=None, cfg=cfg,
                          segment_s=cfg.segment_s, progress=progress, prepare=prepare,
                          address=address)


def ingest_listing(
    listing: VideoListing, videos: str | Path, out: str | Path, *, dataset: str,
    split: int | None, cfg: IngestConfig, progress: Callable[[str], None],
    segment_s: float | None = None, prepare: PrepareFn = prepare_video,
    address: str | None = None,
) -> dict[str, Any]:
    """Plan, write the unfinished parts (Ray Data), then the manifest; returns the manifest.

    Raises TooManyRejects after writing everything when too many listed videos were rejected."""
    out_fs, out_base = filesystem(out)
    out_fs.create_dir(out_base)
    if _exists(out_fs, join(out_base, C.MANIFEST)):
        out_fs.delete_file(join(out_base, C.MANIFEST))  # none while parts change: never stale
    rejected = [{"path": p, "reason": r}
                for p, r in listing.missing + listing.duplicates + listing.invalid]
    progress(f"ingest: {len(listing.items)} videos to ingest ({len(rejected)} missing, duplicate "
             f"or unlabelled entries)")
    splits = sorted({item.split for item in listing.items} | {"train", "test"},
                    key=C.SHARD_SPLITS.index)
    plans = plan_shards(listing.items, videos, splits, cfg, segment_s)
    records = _run_plans(plans, out, prepare, progress, address)
    _remove_stale(out_fs, out_base, plans, splits)
    manifest = _manifest(listing, plans, records, rejected, dataset, split, cfg)
    if not any(manifest["counts"].values()):
        example = manifest["rejected"][0] if manifest["rejected"] else None
        detail = f", e.g. {example['path']}: {example['reason']}" if example else ""
        raise ConfigError(f"{videos}: expected usable videos, but every listed video was "
                          f"rejected{detail}")
    write_manifest(out, manifest)  # last: its presence means the shards are complete
    progress(f"ingest: wrote {_counts_text(manifest)} to {out} "
             f"({len(manifest['rejected'])} rejected)")
    _check_rejects(manifest, cfg.max_reject_fraction, out)
    return manifest


def plan_shards(
    items: list[VideoItem], videos: str | Path, splits: list[str], cfg: IngestConfig,
    segment_s: float | None,
) -> list[dict[str, Any]]:
    """Parts per split: a seeded shuffle (shards are not class-sorted), then consecutive videos
    until their source bytes reach the target. A split with no videos gets one empty part, so
    readers always find the schema."""
    fs, base = filesystem(videos)
    infos = fs.get_file_info([join(base, item.rel_path) for item in items])
    sizes = {item.rel_path: max(info.size or 0, 0) for item, info in zip(items, infos, strict=True)}
    target = cfg.shard_target_mb * 2**20
    plans = []
    for split in splits:
        chosen = [item for item in items if item.split == split]
        rng = np.random.default_rng([cfg.seed, C.SHARD_SPLITS.index(split)])
        chosen = [chosen[i] for i in rng.permutation(len(chosen))]
        parts: list[list[VideoItem]] = [[]]
        filled = 0.0
        for item in chosen:
            if filled >= target:
                parts.append([])
                filled = 0.0
            parts[-1].append(item)
            filled += sizes[item.rel_path]
        for index, part in enumerate(parts):
            plans.append({
                "name": f"{split}/part-{index:05d}.parquet", "split": split,
                "segment_s": segment_s,
                "items": [_plan_item(item, fs, join(base, item.rel_path)) for item in part],
            })
    return plans


def _plan_item(item: VideoItem, fs: pafs.FileSystem, path: str) -> dict[str, Any]:
    scheme = fs.type_name if fs.type_name != "local" else "file"
    return {"rel_path": item.rel_path, "uri": f"{scheme}://{path}" if scheme != "file"
            else Path(path).as_uri(), "video_id": item.video_id, "labels": list(item.labels),
            "class_name": item.class_name, "group": item.group}


def _done_name(plan: dict[str, Any]) -> str:
    return f"{_DONE_DIR}/{plan['name'].replace('/', '-')}.json"


def _is_done(out: str | Path, plan: dict[str, Any]) -> dict[str, Any] | None:
    """The part's done record when it was written from this very plan (else it is redone)."""
    record = read_json(out, _done_name(plan))
    if record is None or record.get("plan") != _fingerprint(plan):
        return None
    return record


def _fingerprint(plan: dict[str, Any]) -> list[Any]:
    return [plan["segment_s"], [[i["rel_path"], list(i["labels"])] for i in plan["items"]]]


def _run_plans(
    plans: list[dict[str, Any]], out: str | Path, prepare: PrepareFn,
    progress: Callable[[str], None], address: str | None,
) -> dict[str, dict[str, Any]]:
    """Done records of every part, writing the unfinished ones as a Ray Data job."""
    records = {p["name"]: r for p in plans if (r := _is_done(out, p)) is not None}
    todo = [p for p in plans if p["name"] not in records]
    progress(f"ingest: {len(plans)} parts planned, {len(records)} already written, "
             f"{len(todo)} to write")
    if not todo:
        return records
    with _ray(address):
        cpus = int(ray.available_resources().get("CPU", 1))
        ds = ray.data.from_items([{"plan": json.dumps(p)} for p in todo],
                                 override_num_blocks=len(todo))
        ds = ds.map_batches(
            _PartWriter, fn_constructor_kwargs={"out": str(out), "prepare": prepare},
            batch_size=1, batch_format="numpy", num_cpus=1,
            # [1] One actor per CPU, each with one child process doing the decoding.
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, min(cpus,
                                                                              len(todo)))),
        )
        step = max(1, math.ceil(len(todo) / 20))
        for n, row in enumerate(ds.iter_rows(), 1):
            record = json.loads(row["record"])
            records[record["name"]] = record
            if n % step == 0 or n == len(todo):
                progress(f"ingest: {n}/{len(todo)} parts written")
    return records


@contextlib.contextmanager
def _ray(address: str | None) -> Iterator[None]:
    """Use the Ray the caller started; otherwise start one (local, or `address`) for the job."""
    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS")  # set inside `ray job submit`
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        # num_cpus forces a new local Ray: without it ray.init may join a cluster someone else
        # started on this machine.
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


class _PartWriter:
    """Ray Data actor: writes parts; its child process survives from part to part."""

    def __init__(self, out: str, prepare: PrepareFn) -> None:
        self._out, self._prepare = out, prepare
        self._pool = IsolatedPool(workers=1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:
        return {"record": [json.dumps(self._write(json.loads(str(p)))) for p in batch["plan"]]}

    def _write(self, plan: dict[str, Any]) -> dict[str, Any]:
        fs, base = filesystem(self._out)
        fs.create_dir(join(base, plan["split"]))
        writer = ShardWriter(fs, join(base, plan["name"]))
        rejected, videos = [], 0
        items = plan["items"]
        for start in range(0, len(items), _WINDOW):
            window = items[start:start + _WINDOW]
            outcomes = self._pool.map(
                self._prepare, [Source(i["uri"], plan["segment_s"]) for i in window])
            for item, outcome in zip(window, outcomes, strict=True):
                if isinstance(outcome, str):
                    rejected.append({"path": item["rel_path"], "reason": outcome})
                    continue
                videos += 1
                for segment, (data, probe) in enumerate(outcome):
                    writer.write(_row(item, plan["split"], segment, data, probe))
        writer.close()
        record = {"name": plan["name"], "plan": _fingerprint(plan), "rows": writer.rows,
                  "videos": videos, "rejected": rejected}
        write_json(self._out, _done_name(plan), record)  # after the part: it marks it complete
        return record


def _row(item: dict[str, Any], split: str, segment: int, data: bytes,
         probe: VideoProbe) -> dict[str, Any]:
    return {
        C.VIDEO_ID: item["video_id"],
        C.SEGMENT: segment,
        C.LABEL: item["labels"][0],
        C.LABELS: item["labels"],
        C.CLASS_NAME: item["class_name"],
        C.SPLIT: split,
        C.GROUP: item["group"],
        C.VIDEO_BYTES: data,
        C.NUM_FRAMES: probe.num_frames,
        C.FRAME_PTS: probe.frame_pts,
        C.TIME_BASE: probe.time_base,
        C.FPS: probe.fps,
        C.WIDTH: probe.width,
        C.HEIGHT: probe.height,
        C.CODEC: probe.codec,
        C.SOURCE_PATH: item["rel_path"],
    }


def _exists(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def _remove_stale(fs: pafs.FileSystem, base: str, plans: list[dict[str, Any]],
                  splits: list[str]) -> None:
    """Delete parts (and done records) an earlier ingest planned but this one does not."""
    keep = {join(base, p["name"]) for p in plans} | {join(base, _done_name(p)) for p in plans}
    for folder in [*splits, _DONE_DIR]:
        selector = pafs.FileSelector(join(base, folder), allow_not_found=True)
        for info in fs.get_file_info(selector):
            if info.type == pafs.FileType.File and info.path not in keep:
                fs.delete_file(info.path)


def _manifest(
    listing: VideoListing, plans: list[dict[str, Any]], records: dict[str, dict[str, Any]],
    rejected: list[dict[str, str]], dataset: str, split: int | None, cfg: IngestConfig,
) -> dict[str, Any]:
    splits = list(dict.fromkeys(p["split"] for p in plans))
    all_rejected = rejected + [r for p in plans for r in records[p["name"]]["rejected"]]
    return {
        "dataset": dataset,
        "split": split,
        "classes": listing.classes,
        "counts": {s: sum(records[p["name"]]["rows"] for p in plans if p["split"] == s)
                   for s in splits},
        "videos": {s: sum(records[p["name"]]["videos"] for p in plans if p["split"] == s)
                   for s in splits},
        "rejected": sorted(all_rejected, key=lambda r: r["path"]),
        "absent": {"count": len(listing.absent), "sample": listing.absent[:_ABSENT_SAMPLE]},
        "files": {s: [p["name"] for p in plans if p["split"] == s] for s in splits},
        "ingest": to_dict(cfg),
        "schema_version": SCHEMA_VERSION,
    }


def _counts_text(manifest: dict[str, Any]) -> str:
    return ", ".join(f"{manifest['videos'][s]} {s} videos ({n} rows)"
                     for s, n in manifest["counts"].items())


def _check_rejects(manifest: dict[str, Any], limit: float, out: str | Path) -> None:
    listed = sum(manifest["videos"].values()) + len(manifest["rejected"])
    share = len(manifest["rejected"]) / max(listed, 1)
    if share <= limit:
        return
    reasons = Counter(r["reason"].split(":")[0] for r in manifest["rejected"])
    top = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common(3))
    raise TooManyRejects(
        f"ingest: {len(manifest['rejected'])} of {listed} listed videos rejected "
        f"({share:.1%} > max reject fraction {limit:.1%}; {top}); shards and reasons in "
        f"{join(str(out), C.MANIFEST)}")
