"""Read UCF-101's on-disk layout: `UCF-101/<Class>/*.avi` plus `ucfTrainTestlist/` split lists.

Returns what one official split (1..3) says: classes in classInd.txt order, one item per listed
video, and the listed files that are missing, listed twice or labelled with a class classInd.txt
does not have, or contradicts (each reported as a reject, never silently dropped). A malformed
line is an error naming file:line. `root` is a local path or a file://, s3:// or gs:// URI
(read through sources/tree.py). This module does not open videos (ingest probes them).
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.fs as pafs

from raylab.config import ConfigError
from raylab.data.shards import filesystem, join
from raylab.data.sources.listing import VideoItem, VideoListing
from raylab.data.sources.tree import files_under, is_dir, read_text

VIDEO_DIR = "UCF-101"
LISTS_DIR = "ucfTrainTestlist"
SPLITS = (1, 2, 3)
# The class part of a file name is matched case-insensitively: the real dataset lists
# "HandstandPushups/v_HandStandPushups_g01_c01.avi" (folder and file disagree on case).
_FILE_RE = re.compile(r"v_(?P<cls>[A-Za-z0-9]+)_g(?P<group>\d+)_c(?P<clip>\d+)\.avi")


def read_ucf101(root: str | Path, split: int) -> VideoListing:
    """Parse classInd.txt and trainlist0{split}.txt / testlist0{split}.txt under `root`."""
    if isinstance(split, bool) or split not in SPLITS:
        raise ConfigError(f"split: expected 1, 2 or 3 (UCF-101's official splits), got {split!r}")
    fs, base = filesystem(root)
    if not is_dir(fs, base):
        raise ConfigError(f"{root}: expected a UCF-101 root directory (holding {VIDEO_DIR}/ and "
                          f"{LISTS_DIR}/), but it does not exist")
    for sub in (VIDEO_DIR, LISTS_DIR):
        if not is_dir(fs, join(base, sub)):
            raise ConfigError(f"{root}: expected a {sub}/ directory in the UCF-101 root")
    lists = join(base, LISTS_DIR)
    listing = VideoListing(classes=_read_class_index(fs, join(lists, "classInd.txt")))
    on_disk = files_under(fs, join(base, VIDEO_DIR))
    seen: dict[str, str] = {}
    for kind in ("train", "test"):
        path = join(lists, f"{kind}list0{split}.txt")
        for where, rel, cls, group, problem in _read_split_list(fs, path, kind, listing.classes):
            if problem:
                listing.invalid.append((rel, f"{problem} (listed at {where})"))
                continue
            if rel in seen:
                listing.duplicates.append((rel, f"duplicate entry: {where} repeats {seen[rel]}"))
                continue
            seen[rel] = where
            if rel not in on_disk:
                listing.missing.append((rel, f"missing file (listed at {where})"))
                continue
            label = listing.classes.index(cls)
            listing.items.append(VideoItem(rel, cls, label, kind, group))
    return listing


def _lines(fs: pafs.FileSystem, path: str) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-blank lines; CRLF or LF endings."""
    text = read_text(fs, path)
    if text is None:
        raise ConfigError(f"{path}: expected this UCF-101 list file, but it does not exist")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _read_class_index(fs: pafs.FileSystem, path: str) -> list[str]:
    classes: list[str] = []
    for n, line in _lines(fs, path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise ConfigError(f"{path}:{n}: expected '<index> <ClassName>', got {line!r}")
        if int(parts[0]) != len(classes) + 1:
            raise ConfigError(f"{path}:{n}: expected index {len(classes) + 1} (indices count "
                              f"up from 1), got {parts[0]}")
        if parts[1] in classes:
            raise ConfigError(f"{path}:{n}: class {parts[1]!r} is listed twice")
        classes.append(parts[1])
    if not classes:
        raise ConfigError(f"{path}: expected '<index> <ClassName>' lines, found none")
    return classes


def _read_split_list(
    fs: pafs.FileSystem, path: str, kind: str, classes: list[str],
) -> list[tuple[str, str, str, int, str]]:
    """(file:line, rel path, class name, group, problem) per line; problem is "" or why the
    entry's label is unusable. Train lines carry the 1-based label; test lines are a path only
    (a label there, if any, is checked the same way)."""
    out = []
    for n, line in _lines(fs, path):
        where = f"{path}:{n}"
        parts = line.split()
        if len(parts) not in ((2,) if kind == "train" else (1, 2)):
            expected = "'<Class>/<file>.avi <label>'" if kind == "train" else "'<Class>/<file>.avi'"
            raise ConfigError(f"{where}: expected {expected}, got {line!r}")
        rel = parts[0].replace("\\", "/")
        cls, _, name = rel.partition("/")
        match = _FILE_RE.fullmatch(name)
        if match is None or match["cls"].lower() != cls.lower():
            raise ConfigError(f"{where}: expected '{cls}/v_{cls}_gNN_cMM.avi', got {rel!r}")
        problem = ""
        if cls not in classes:
            problem = f"class {cls!r} not in classInd.txt"
        elif len(parts) == 2 and parts[1] != str(classes.index(cls) + 1):
            problem = (f"label {parts[1]} disagrees with classInd.txt "
                       f"({cls} is {classes.index(cls) + 1})")
        out.append((where, rel, cls, int(match["group"]), problem))
    return out
