"""Read HMDB-51's on-disk layout: `<class>/*.avi` folders beside `testTrainMulti_7030_splits/`.

`root` holds both: the class folders that unpacking hmdb51_org.rar's per-class .rar files gives,
and the folder that test_train_splits.rar unpacks to. HMDB-51 has no class index file, so labels
follow the sorted folder names. A split is the `<class>_test_split<k>.txt` files: `<video>.avi
<flag>` lines, 1 = train, 2 = test, 0 = not used by that split (counted, never ingested). Missing
and repeated entries are reported as in ucf101.py. `root` is a local path or a file://, s3:// or
gs:// URI (read through sources/tree.py); this module does not open videos.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs as pafs

from raylab.config import ConfigError
from raylab.data.shards import filesystem, join
from raylab.data.sources.listing import VideoItem, VideoListing
from raylab.data.sources.tree import entries, files_under, is_dir, read_text

SPLITS_DIR = "testTrainMulti_7030_splits"
SPLITS = (1, 2, 3)
_KINDS = {"1": "train", "2": "test", "0": None}


def read_hmdb51(root: str | Path, split: int) -> VideoListing:
    """Parse testTrainMulti_7030_splits/<class>_test_split{split}.txt for every class folder."""
    if isinstance(split, bool) or split not in SPLITS:
        raise ConfigError(f"split: expected 1, 2 or 3 (HMDB-51's official splits), got {split!r}")
    fs, base = filesystem(root)
    if not is_dir(fs, base):
        raise ConfigError(f"{root}: expected an HMDB-51 root directory (holding the class folders "
                          f"and {SPLITS_DIR}/), but it does not exist")
    if not is_dir(fs, join(base, SPLITS_DIR)):
        raise ConfigError(f"{root}: expected a {SPLITS_DIR}/ directory in the HMDB-51 root "
                          f"(unpack test_train_splits.rar there)")
    classes = [i.base_name for i in entries(fs, base) if i.type == pafs.FileType.Directory
               and i.base_name != SPLITS_DIR and not i.base_name.startswith(".")]
    if not classes:
        raise ConfigError(f"{root}: expected class folders such as brush_hair/ in the HMDB-51 "
                          f"root, found none (unpack hmdb51_org.rar's per-class .rar files there)")
    listing = VideoListing(classes=classes)
    on_disk = files_under(fs, base)
    seen: dict[str, str] = {}
    for label, (cls, path) in enumerate(_split_files(fs, base, split, classes).items()):
        for where, rel, kind in _read_split_file(fs, path, cls):
            if rel in seen:
                listing.duplicates.append((rel, f"duplicate entry: {where} repeats {seen[rel]}"))
                continue
            seen[rel] = where
            if kind is None:
                listing.unused.append(rel)
            elif rel not in on_disk:
                listing.missing.append((rel, f"missing file (listed at {where})"))
            else:
                listing.items.append(VideoItem(rel, cls, label, kind, 0))
    return listing


def _split_files(fs: pafs.FileSystem, base: str, split: int,
                 classes: list[str]) -> dict[str, str]:
    """{class: its split file}, in `classes` order; every split file needs its class folder and
    every folder its split file (a stray folder would otherwise become an empty class)."""
    suffix = f"_test_split{split}.txt"
    files = {i.base_name.removesuffix(suffix): i.path
             for i in entries(fs, join(base, SPLITS_DIR))
             if i.type == pafs.FileType.File and i.base_name.endswith(suffix)}
    for cls, path in files.items():
        if cls not in classes:
            raise ConfigError(f"{path}: split file for class {cls!r}, but {join(base, cls)}/ "
                              f"does not exist")
    for cls in classes:
        if cls not in files:
            raise ConfigError(f"{join(base, SPLITS_DIR, cls + suffix)}: expected this split file "
                              f"for class folder {cls}/ (every folder in the root is a class), "
                              f"but it does not exist")
    return {cls: files[cls] for cls in classes}


def _read_split_file(fs: pafs.FileSystem, path: str,
                     cls: str) -> list[tuple[str, str, str | None]]:
    """(file:line, "<class>/<video>.avi", "train" | "test" | None for unused) per line.

    The flag is the last field and the name all before it: real names hold no spaces but do hold
    characters like '#', '(', '!' and '&'. Real lines end in a space; CRLF is accepted too."""
    out = []
    text = read_text(fs, path)
    if text is None:  # _split_files listed it a moment ago
        raise ConfigError(f"{path}: expected this split file, but it does not exist")
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        where = f"{path}:{n}"
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or parts[1] not in _KINDS:
            raise ConfigError(f"{where}: expected '<video>.avi <flag>' with flag 0, 1 or 2, "
                              f"got {line!r}")
        name = parts[0]
        if not name.endswith(".avi") or "/" in name or "\\" in name:
            raise ConfigError(f"{where}: expected a bare file name ending in .avi, got {name!r}")
        out.append((where, f"{cls}/{name}", _KINDS[parts[1]]))
    return out
