"""Read HMDB-51's on-disk layout: `<class>/*.avi` folders beside `testTrainMulti_7030_splits/`.

`root` holds both: the class folders that unpacking hmdb51_org.rar's per-class .rar files gives,
and the folder that test_train_splits.rar unpacks to. HMDB-51 has no class index file, so labels
follow the sorted folder names. A split is the `<class>_test_split<k>.txt` files: `<video>.avi
<flag>` lines, 1 = train, 2 = test, 0 = not used by that split (counted, never ingested). Missing
and repeated entries are reported as in ucf101.py; this module does not open videos.
"""

from __future__ import annotations

from pathlib import Path

from raylab.config import ConfigError
from raylab.data.sources.listing import VideoItem, VideoListing

SPLITS_DIR = "testTrainMulti_7030_splits"
SPLITS = (1, 2, 3)
_KINDS = {"1": "train", "2": "test", "0": None}


def read_hmdb51(root: Path, split: int) -> VideoListing:
    """Parse testTrainMulti_7030_splits/<class>_test_split{split}.txt for every class folder."""
    root = Path(root)
    if isinstance(split, bool) or split not in SPLITS:
        raise ConfigError(f"split: expected 1, 2 or 3 (HMDB-51's official splits), got {split!r}")
    if not root.is_dir():
        raise ConfigError(f"{root}: expected an HMDB-51 root directory (holding the class folders "
                          f"and {SPLITS_DIR}/), but it does not exist")
    if not (root / SPLITS_DIR).is_dir():
        raise ConfigError(f"{root}: expected a {SPLITS_DIR}/ directory in the HMDB-51 root "
                          f"(unpack test_train_splits.rar there)")
    classes = sorted(p.name for p in root.iterdir()
                     if p.is_dir() and p.name != SPLITS_DIR and not p.name.startswith("."))
    if not classes:
        raise ConfigError(f"{root}: expected class folders such as brush_hair/ in the HMDB-51 "
                          f"root, found none (unpack hmdb51_org.rar's per-class .rar files there)")
    listing = VideoListing(classes=classes)
    seen: dict[str, str] = {}
    for label, (cls, path) in enumerate(_split_files(root, split, classes).items()):
        for where, rel, kind in _read_split_file(path, cls):
            if rel in seen:
                listing.duplicates.append((rel, f"duplicate entry: {where} repeats {seen[rel]}"))
                continue
            seen[rel] = where
            if kind is None:
                listing.unused.append(rel)
            elif not (root / rel).is_file():
                listing.missing.append((rel, f"missing file (listed at {where})"))
            else:
                listing.items.append(VideoItem(rel, cls, label, kind, 0))
    return listing


def _split_files(root: Path, split: int, classes: list[str]) -> dict[str, Path]:
    """{class: its split file}, in `classes` order; every split file needs its class folder and
    every folder its split file (a stray folder would otherwise become an empty class)."""
    suffix = f"_test_split{split}.txt"
    files = {p.name.removesuffix(suffix): p
             for p in sorted((root / SPLITS_DIR).glob(f"*{suffix}")) if p.is_file()}
    for cls, path in files.items():
        if cls not in classes:
            raise ConfigError(f"{path}: split file for class {cls!r}, but {root / cls}/ "
                              f"does not exist")
    for cls in classes:
        if cls not in files:
            raise ConfigError(f"{root / SPLITS_DIR / (cls + suffix)}: expected this split file "
                              f"for class folder {cls}/ (every folder in the root is a class), "
                              f"but it does not exist")
    return {cls: files[cls] for cls in classes}


def _read_split_file(path: Path, cls: str) -> list[tuple[str, str, str | None]]:
    """(file:line, "<class>/<video>.avi", "train" | "test" | None for unused) per line.

    The flag is the last field and the name all before it: real names hold no spaces but do hold
    characters like '#', '(', '!' and '&'. Real lines end in a space; CRLF is accepted too."""
    out = []
    text = path.read_text(encoding="utf-8", errors="replace")
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
