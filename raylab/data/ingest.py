"""`raylab ingest {ucf101,hmdb51,sports1m}`: a dataset's listing -> Parquet shards + manifest.

List (driver: parse split files, stat sizes) -> the resumable Ray Data job of part_job.py, whose
tasks read each video and validate it (probe; cut long videos into segments) in a child process
(video_probe.py), then write its rows -> the manifest, last and atomically. Paths are local or
s3:// / gs:// / file:// URIs. Every listed file that is not ingested is in manifest["rejected"]
with its reason; a decoder that kills its process costs that one file (isolate.py). Rows of one
part keep their videos' segments together (a part is written in one pass, never held whole in
memory). A part task opens each video by its URI, which keeps the root URI's query (e.g. s3's
?endpoint_override=), so it reads on any node what the driver listed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from raylab.config import ConfigError, IngestConfig, to_dict
from raylab.data import columns as C
from raylab.data.isolate import IsolatedPool
from raylab.data.part_job import Plan, check_rejects, plan_parts, run_parts, start_output
from raylab.data.shards import (
    SCHEMA_VERSION,
    ShardWriter,
    VideoProbe,
    as_uri,
    filesystem,
    join,
    join_uri,
    write_manifest,
)
from raylab.data.sources.hmdb51 import read_hmdb51
from raylab.data.sources.listing import VideoItem, VideoListing
from raylab.data.sources.sports1m import read_sports1m
from raylab.data.sources.ucf101 import VIDEO_DIR, read_ucf101
from raylab.data.video_probe import PrepareFn, Source, prepare_video

# Videos handed to the child process at once: enough to hide its start-up, few enough that the
# bytes in flight stay small (a Sports-1M video is tens of MB).
_WINDOW = 4
_ABSENT_SAMPLE = 20


def ingest_ucf101(
    root: str | Path, split: int, out: str | Path, *, cfg: IngestConfig = IngestConfig(),
    progress: Callable[[str], None] = print, prepare: PrepareFn = prepare_video,
    address: str | None = None,
) -> dict[str, Any]:
    """Shards of UCF-101 split `split` (1..3) under `out`; returns the manifest it wrote."""
    listing = read_ucf101(root, split)
    return ingest_listing(listing, join_uri(root, VIDEO_DIR), out, dataset="ucf101", split=split,
                          cfg=cfg, progress=progress, prepare=prepare, address=address)


def ingest_hmdb51(
    root: str | Path, split: int, out: str | Path, *, cfg: IngestConfig = IngestConfig(),
    progress: Callable[[str], None] = print, prepare: PrepareFn = prepare_video,
    address: str | None = None,
) -> dict[str, Any]:
    """Shards of HMDB-51 split `split` (1..3) under `out`; returns the manifest it wrote."""
    listing = read_hmdb51(root, split)
    progress(f"ingest: split {split} flags {len(listing.unused)} videos 0 (unused), left out")
    return ingest_listing(listing, root, out, dataset="hmdb51", split=split, cfg=cfg,
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

    Raises part_job.TooManyRejects after writing everything when too many listed videos were
    rejected."""
    start_output(out)
    rejected = [{"path": p, "reason": r}
                for p, r in listing.missing + listing.duplicates + listing.invalid]
    progress(f"ingest: {len(listing.items)} videos to ingest ({len(rejected)} missing, duplicate "
             f"or unlabelled entries)")
    splits = sorted({item.split for item in listing.items} | {"train", "test"},
                    key=C.SHARD_SPLITS.index)
    plans = plan_shards(listing.items, videos, splits, cfg, segment_s)
    records = run_parts(plans, out, partial(_write_part, prepare=prepare), progress=progress,
                        address=address)
    manifest = _manifest(listing, plans, records, rejected, dataset, split, cfg)
    if not any(manifest["counts"].values()):
        example = manifest["rejected"][0] if manifest["rejected"] else None
        detail = f", e.g. {example['path']}: {example['reason']}" if example else ""
        raise ConfigError(f"{videos}: expected usable videos, but every listed video was "
                          f"rejected{detail}")
    write_manifest(out, manifest)  # last: its presence means the shards are complete
    progress(f"ingest: wrote {_counts_text(manifest)} to {out} "
             f"({len(manifest['rejected'])} rejected)")
    check_rejects(manifest["rejected"], sum(manifest["videos"].values()),
                  cfg.max_reject_fraction, out, "videos")
    return manifest


def plan_shards(
    items: list[VideoItem], videos: str | Path, splits: list[str], cfg: IngestConfig,
    segment_s: float | None,
) -> list[Plan]:
    """Parts per split (part_job.plan_parts), sized by the videos' source bytes."""
    fs, base = filesystem(videos)
    infos = fs.get_file_info([join(base, item.rel_path) for item in items])
    uri = as_uri(videos)
    planned = [_plan_item(item, join_uri(uri, item.rel_path), max(info.size or 0, 0))
               for item, info in zip(items, infos, strict=True)]
    return plan_parts(planned, splits, target_bytes=cfg.shard_target_mb * 2**20, seed=cfg.seed,
                      fingerprint=partial(_fingerprint, segment_s), segment_s=segment_s)


def _plan_item(item: VideoItem, uri: str, size: int) -> dict[str, Any]:
    return {"rel_path": item.rel_path, "uri": uri, "split": item.split,
            "size": size, "video_id": item.video_id, "labels": list(item.labels),
            "class_name": item.class_name, "group": item.group}


def _fingerprint(segment_s: float | None, items: list[dict[str, Any]]) -> list[Any]:
    return [segment_s, [[i["rel_path"], list(i["labels"])] for i in items]]


def _write_part(plan: Plan, pool: IsolatedPool, fs: pafs.FileSystem, base: str, *,
                prepare: PrepareFn) -> dict[str, Any]:
    """One part's rows (runs in a part_job task; reading and probing in `pool`'s child)."""
    writer = ShardWriter(fs, join(base, plan["name"]))
    rejected, videos = [], 0
    items = plan["items"]
    for start in range(0, len(items), _WINDOW):
        window = items[start:start + _WINDOW]
        outcomes = pool.map(prepare, [Source(i["uri"], plan["segment_s"]) for i in window])
        for item, outcome in zip(window, outcomes, strict=True):
            if isinstance(outcome, str):
                rejected.append({"path": item["rel_path"], "reason": outcome})
                continue
            videos += 1
            for segment, (data, probe) in enumerate(outcome):
                writer.write(_row(item, plan["split"], segment, data, probe))
    writer.close()
    return {"rows": writer.rows, "videos": videos, "rejected": rejected}


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


def _manifest(
    listing: VideoListing, plans: list[Plan], records: dict[str, dict[str, Any]],
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
