"""Read Sports-1M's layout: `labels.txt`, `{train,test}_partition.txt` and a folder of downloads.

Partition lines are `<YouTube URL> <label>[,<label>...]` with 0-based indices into labels.txt (487
classes; ~5% of videos have several labels). The videos are whatever the user downloaded, named
`<YouTube id>.<ext>` in `videos/` (or a folder given); listed videos not there are counted as
absent, not rejected: YouTube removes videos all the time. Upstream has no val split, so a seeded
`val_fraction` of the train list is held out, chosen per id (a video stays in its split however
many others get downloaded). Paths may be local or URIs of any pyarrow filesystem (read through
sources/tree.py).
This module does not open videos (ingest probes and cuts them).
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pyarrow.fs as pafs

from raylab.config import ConfigError
from raylab.data.shards import filesystem, join, join_uri
from raylab.data.sources.listing import VideoItem, VideoListing
from raylab.data.sources.tree import entries, is_dir, read_text

LABELS_FILE = "labels.txt"
PARTITIONS = {"train": "train_partition.txt", "test": "test_partition.txt"}
VIDEO_DIR = "videos"
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".flv", ".m4v", ".3gp", ".mpg")
_ID_RE = re.compile(r"(?:[?&]v=|youtu\.be/)(?P<id>[A-Za-z0-9_-]{11})(?:$|[&#?])")


def read_sports1m(
    root: str | Path, *, videos: str | Path | None = None, val_fraction: float = 0.05,
    seed: int = 0,
) -> tuple[VideoListing, str]:
    """(listing of train/val/test, the videos folder) from the files under `root`."""
    fs, base = filesystem(root)
    if not is_dir(fs, base):
        raise ConfigError(f"{root}: expected a Sports-1M root directory (holding {LABELS_FILE}, "
                          f"{PARTITIONS['train']}, {PARTITIONS['test']}), but it does not exist")
    classes = _read_labels(fs, join(base, LABELS_FILE))
    video_dir = str(videos) if videos is not None else join_uri(root, VIDEO_DIR)
    downloaded = _index_videos(video_dir)
    listing = VideoListing(classes=classes)
    seen: dict[str, str] = {}
    for kind, name in PARTITIONS.items():
        for where, video_id, labels in _read_partition(fs, join(base, name)):
            if video_id in seen:
                listing.duplicates.append((video_id, f"duplicate entry: {where} repeats "
                                                     f"{seen[video_id]}"))
                continue
            seen[video_id] = where
            bad = [n for n in labels if not 0 <= n < len(classes)]
            if bad:
                listing.invalid.append((video_id, f"label {bad[0]} not in {LABELS_FILE} "
                                                  f"(0..{len(classes) - 1}) at {where}"))
                continue
            if video_id not in downloaded:
                listing.absent.append(video_id)
                continue
            split = "val" if kind == "train" and _held_out(video_id, val_fraction, seed) else kind
            listing.items.append(VideoItem(
                rel_path=downloaded[video_id], class_name=classes[labels[0]], label=labels[0],
                split=split, group=0, labels=tuple(labels), video_id=video_id))
    return listing, video_dir


def _held_out(video_id: str, fraction: float, seed: int) -> bool:
    # crc32, not hash(): Python salts str hashes per process.
    return zlib.crc32(f"{seed}:{video_id}".encode()) < fraction * 2**32


def _read_text(fs: pafs.FileSystem, path: str, what: str) -> list[tuple[int, str]]:
    text = read_text(fs, path)
    if text is None:
        raise ConfigError(f"{path}: expected the Sports-1M {what}, but it does not exist")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _read_labels(fs: pafs.FileSystem, path: str) -> list[str]:
    classes = [line for _, line in _read_text(fs, path, "class list (one name a line)")]
    if not classes:
        raise ConfigError(f"{path}: expected one class name a line, found none")
    if len(set(classes)) != len(classes):
        twice = next(c for c in classes if classes.count(c) > 1)
        raise ConfigError(f"{path}: class {twice!r} is listed twice")
    return classes


def _read_partition(fs: pafs.FileSystem, path: str) -> list[tuple[str, str, list[int]]]:
    """(file:line, YouTube id, labels) per line."""
    out = []
    for n, line in _read_text(fs, path, "partition file"):
        where = f"{path}:{n}"
        parts = line.split()
        match = _ID_RE.search(parts[0]) if len(parts) == 2 else None
        labels = parts[1].split(",") if len(parts) == 2 else []
        if match is None or not labels or not all(x.isdigit() for x in labels):
            raise ConfigError(f"{where}: expected '<YouTube URL> <label>[,<label>...]' with "
                              f"0-based labels, got {line!r}")
        out.append((where, match["id"], [int(x) for x in labels]))
    return out


def _index_videos(video_dir: str) -> dict[str, str]:
    """{YouTube id: file name} of the downloads (first by name when one id has several files)."""
    fs, base = filesystem(video_dir)
    names = [i.base_name for i in entries(fs, base) if i.type == pafs.FileType.File]
    found: dict[str, str] = {}
    for name in names:
        stem, dot, ext = name.rpartition(".")
        if dot and f".{ext.lower()}" in VIDEO_EXTENSIONS:
            found.setdefault(stem, name)
    return found
