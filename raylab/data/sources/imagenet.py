"""Read ILSVRC-2012's on-disk layout: which images exist, their labels, and what cannot be used.

Layout (as unpacked from the Kaggle "ImageNet Object Localization" download; the images may sit
directly under the root or under `ILSVRC/Data/CLS-LOC/`):
    LOC_synset_mapping.txt      "n01440764 tench, Tinca tinca": class order = line order
    train/<wnid>/<wnid>_<n>.JPEG
    val/<file>.JPEG + LOC_val_solution.csv ("ImageId,PredictionString"; the wnid is the first
        token of PredictionString), or val/<wnid>/<file>.JPEG (already sorted into folders)
ILSVRC's val set is the test split here (its test labels are not public). Unusable entries (a
wnid not in the mapping, a csv row naming a missing file, a duplicate) are rejected with a
reason, never fatal; a missing or malformed mapping is a one-line ConfigError. The root is a
local path or a file://, s3:// or gs:// URI (read through sources/tree.py). This module does not
open images (ingest decodes them).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pyarrow.fs as pafs

from raylab.config import ConfigError
from raylab.data.shards import filesystem, join, join_uri
from raylab.data.sources.tree import entries, is_dir, read_text

MAPPING_FILE = "LOC_synset_mapping.txt"
VAL_SOLUTION_FILE = "LOC_val_solution.csv"
KAGGLE_IMAGE_DIR = "ILSVRC/Data/CLS-LOC"
IMAGE_SUFFIX = ".JPEG"
_WNID_RE = re.compile(r"n\d{8}")


@dataclass(frozen=True)
class ImageItem:
    """One usable listed image."""

    rel_path: str
    """Path under the image folder, e.g. "train/n01440764/n01440764_10026.JPEG"."""
    wnid: str
    label: int
    """0-based index into `ImageListing.classes` (LOC_synset_mapping.txt order)."""
    split: str
    """"train" or "test" (ILSVRC's val/)."""


@dataclass
class ImageListing:
    classes: list[str]
    """WordNet ids in LOC_synset_mapping.txt order (label i is classes[i])."""
    class_names: list[str]
    """The mapping's description of each class, e.g. "tench, Tinca tinca"."""
    image_dir: str
    """The folder holding train/ and val/ (rel paths are relative to it): the root, or its
    KAGGLE_IMAGE_DIR, a local path or a URI as the root was given."""
    val_layout: str = "flat"
    """"flat" (labels from LOC_val_solution.csv) or "folders" (val/<wnid>/)."""
    items: list[ImageItem] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) for every listed or found entry that is not in `items`."""


def read_imagenet(root: str | Path) -> ImageListing:
    """List train/ and val/ under `root` against LOC_synset_mapping.txt."""
    fs, base = filesystem(root)
    if not is_dir(fs, base):
        raise ConfigError(f"{root}: expected an ImageNet root directory (holding {MAPPING_FILE}, "
                          "train/ and val/), but it does not exist")
    classes, names = read_synset_mapping(join_uri(root, MAPPING_FILE))
    kaggle = not is_dir(fs, join(base, "train"))
    images = join(base, KAGGLE_IMAGE_DIR) if kaggle else base
    for sub in ("train", "val"):
        if not is_dir(fs, join(images, sub)):
            raise ConfigError(f"{root}: expected a {sub}/ directory (or {KAGGLE_IMAGE_DIR}/{sub}/)")
    image_dir = join_uri(root, *KAGGLE_IMAGE_DIR.split("/")) if kaggle else str(root)
    listing = ImageListing(classes=classes, class_names=names, image_dir=image_dir)
    label = {wnid: i for i, wnid in enumerate(classes)}
    _list_folders(fs, images, "train", "train", label, listing, check_name=True)
    if any(i.type == pafs.FileType.Directory for i in entries(fs, join(images, "val"))):
        listing.val_layout = "folders"
        _list_folders(fs, images, "val", "test", label, listing, check_name=False)
    else:
        _list_flat_val(fs, images, join(base, VAL_SOLUTION_FILE), label, listing)
    listing.rejected.sort()
    return listing


def read_synset_mapping(path: str | Path) -> tuple[list[str], list[str]]:
    """(wnids, descriptions) in file order from `path` (a local path or a URI); a malformed or
    repeated line is a ConfigError."""
    fs, inside = filesystem(path)
    text = read_text(fs, inside)
    if text is None:
        raise ConfigError(f"{path}: expected ImageNet's class list ('<wnid> <names>' per line), "
                          "but it does not exist")
    wnids: list[str] = []
    names: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        wnid, _, name = line.strip().partition(" ")
        if not _WNID_RE.fullmatch(wnid) or not name.strip():
            raise ConfigError(f"{path}:{n}: expected '<wnid> <names>' such as "
                              f"'n01440764 tench, Tinca tinca', got {line.strip()!r}")
        if wnid in wnids:
            raise ConfigError(f"{path}:{n}: {wnid} is listed twice")
        wnids.append(wnid)
        names.append(name.strip())
    if not wnids:
        raise ConfigError(f"{path}: expected '<wnid> <names>' lines, found none")
    return wnids, names


def _list_folders(
    fs: pafs.FileSystem, images: str, sub: str, split: str, label: dict[str, int],
    listing: ImageListing, *, check_name: bool,
) -> None:
    """Every file in <sub>/<wnid>/; train names must start with their folder's wnid."""
    for entry in entries(fs, join(images, sub)):
        wnid = entry.base_name
        rel_dir = f"{sub}/{wnid}"
        if entry.type != pafs.FileType.Directory:
            listing.rejected.append((rel_dir, f"not in a class folder ({sub}/<wnid>/)"))
            continue
        if wnid not in label:
            for f in entries(fs, entry.path):
                listing.rejected.append(
                    (f"{rel_dir}/{f.base_name}", f"folder {wnid} is not in {MAPPING_FILE}"))
            continue
        for f in entries(fs, entry.path):
            rel = f"{rel_dir}/{f.base_name}"
            if f.type != pafs.FileType.File or PurePosixPath(f.base_name).suffix != IMAGE_SUFFIX:
                listing.rejected.append((rel, f"expected a {IMAGE_SUFFIX} file"))
            elif check_name and not f.base_name.startswith(wnid + "_"):
                listing.rejected.append(
                    (rel, f"file name does not start with its folder's wnid {wnid}_"))
            else:
                listing.items.append(ImageItem(rel, wnid, label[wnid], split))


def _list_flat_val(
    fs: pafs.FileSystem, images: str, solution: str, label: dict[str, int],
    listing: ImageListing,
) -> None:
    """val/<ImageId>.JPEG labelled by LOC_val_solution.csv; files it does not list are rejected."""
    text = read_text(fs, solution)
    if text is None:
        raise ConfigError(f"{solution}: expected ImageNet's val labels ('ImageId,PredictionString'"
                          ") because val/ is flat, but it does not exist")
    on_disk = {i.base_name for i in entries(fs, join(images, "val"))
               if i.type == pafs.FileType.File}
    listed: dict[str, str] = {}
    rows = list(csv.reader(io.StringIO(text, newline="")))  # newline="": csv sees CRLF itself
    if not rows or [c.strip() for c in rows[0][:2]] != ["ImageId", "PredictionString"]:
        got = rows[0] if rows else "an empty file"
        raise ConfigError(
            f"{solution}:1: expected the header 'ImageId,PredictionString', got {got}")
    for n, row in enumerate(rows[1:], 2):
        where = f"{VAL_SOLUTION_FILE}:{n}"
        if not row or not any(c.strip() for c in row):
            continue
        image_id = row[0].strip()
        rel = f"val/{image_id}{IMAGE_SUFFIX}"
        tokens = row[1].split() if len(row) > 1 else []
        if not tokens:
            listing.rejected.append((rel, f"{where}: no label in PredictionString"))
        elif image_id in listed:
            listing.rejected.append((rel, f"duplicate entry: {where} repeats {listed[image_id]}"))
        elif tokens[0] not in label:
            listing.rejected.append((rel, f"{where}: wnid {tokens[0]} is not in {MAPPING_FILE}"))
        elif image_id + IMAGE_SUFFIX not in on_disk:
            listing.rejected.append((rel, f"missing file (listed at {where})"))
        else:
            listing.items.append(ImageItem(rel, tokens[0], label[tokens[0]], "test"))
        listed.setdefault(image_id, where)
    for name in sorted(on_disk):
        if name.removesuffix(IMAGE_SUFFIX) not in listed:
            listing.rejected.append((f"val/{name}", f"not listed in {VAL_SOLUTION_FILE}"))
