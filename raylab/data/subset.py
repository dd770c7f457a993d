"""`raylab subset`: a few-shot copy of a shards dir, N training videos per class, seeded.

Zeiler & Fergus (PAPERS.md 2.8) train on 15/30/45/60 images per class; this writes such a
training split as its own shards dir + manifest, so every raylab command reads it like any other
dataset. Which videos are kept is a pure function of (source manifest, N, seed): each class's
video ids are sorted, then permuted by one generator seeded with `seed`, class by class in
label order. Rows are streamed one row group at a time (memory stays flat); the test split is
not rewritten: its files are hard-linked (copied across file systems), byte for byte the same.
The kept rows are written with the source's own Parquet schema, so any dataset kind works: image
datasets (`raylab ingest imagenet`) subset the same way, keeping the full training set's pixel
statistics and mean image.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from raylab.config import ConfigError
from raylab.data import columns as C
from raylab.data.shards import DatasetKind, dataset_kind, read_manifest, write_manifest

# The column that names a training example in each dataset kind's shards.
ID_COLUMNS: dict[DatasetKind, str] = {DatasetKind.VIDEO: C.VIDEO_ID, DatasetKind.IMAGE: C.IMAGE_ID}


def choose_few_shot(ids_by_label: dict[int, list[str]], classes: list[str], *, per_class: int,
                    seed: int) -> set[str]:
    """`per_class` video ids of every class (each class's sorted ids permuted by `seed`)."""
    rng = np.random.default_rng(seed)
    chosen: set[str] = set()
    for label, name in enumerate(classes):
        ids = sorted(ids_by_label.get(label, []))
        if len(ids) < per_class:
            raise ConfigError(f"--per-class: class {name} has {len(ids)} training videos, "
                              f"fewer than {per_class}")
        chosen.update(ids[i] for i in rng.permutation(len(ids))[:per_class])
    return chosen


def write_subset(shards: Path, out: Path, *, per_class: int, seed: int,
                 progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Write `out` (shards + manifest) with `per_class` train videos per class; returns the
    manifest. The test split and class list are the source's."""
    shards, out = Path(shards).resolve(), Path(out).resolve()
    if per_class < 1:
        raise ConfigError(f"--per-class: expected >= 1, got {per_class}")
    if out == shards:
        raise ConfigError(f"--out: {out} is the source shards dir; choose a new directory")
    source = read_manifest(shards)
    id_column = ID_COLUMNS[dataset_kind(source)]
    train_files = [shards / f for f in source["files"]["train"]]
    ids_by_label: dict[int, list[str]] = {}
    for path in train_files:
        table = pq.read_table(path, columns=[id_column, C.LABEL])
        for vid, label in zip(table[id_column].to_pylist(), table[C.LABEL].to_pylist()):
            ids_by_label.setdefault(label, []).append(vid)
    classes = list(source["classes"])
    chosen = choose_few_shot(ids_by_label, classes, per_class=per_class, seed=seed)
    progress(f"subset: keeping {len(chosen)} of {source['counts']['train']} training videos "
             f"({per_class} per class, seed {seed})")
    (out / C.MANIFEST).unlink(missing_ok=True)
    files = {"train": _write_train(train_files, chosen, id_column, out)}
    for old in (out / "test").glob("part-*.parquet"):  # from an earlier subset written here
        old.unlink()
    files["test"] = list(source["files"]["test"])
    for f in files["test"]:
        _link(shards / f, out / f)
    if "pixel_stats" in source:  # image datasets: the mean image file beside the shards
        name = source["pixel_stats"]["mean_image_file"]
        (out / name).unlink(missing_ok=True)
        _link(shards / name, out / name)
    manifest = {**source, "files": files,
                "counts": {**source["counts"], "train": len(chosen)},
                "subset": {"source": str(shards), "per_class": per_class, "seed": seed}}
    write_manifest(out, manifest)  # last: its presence means the subset is complete
    progress(f"subset: wrote {out} ({len(chosen)} train / {source['counts']['test']} test)")
    return manifest


def _write_train(files: list[Path], keep: set[str], id_column: str, out: Path) -> list[str]:
    """The kept rows of `files` as out/train/part-00000.parquet, one source row group at a time
    (each becomes a row group of its kept rows); returns its path relative to `out`."""
    folder = out / "train"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.parquet"):  # from an earlier subset written here
        old.unlink()
    rel = "train/part-00000.parquet"
    wanted = pa.array(sorted(keep), type=pa.string())
    writer: pq.ParquetWriter | None = None
    try:
        for path in files:
            reader = pq.ParquetFile(path)
            if writer is None:
                writer = pq.ParquetWriter(out / rel, reader.schema_arrow)
            for group in range(reader.num_row_groups):
                table = reader.read_row_group(group)
                kept = table.filter(pc.is_in(table[id_column], value_set=wanted))
                if kept.num_rows:
                    writer.write_table(kept)
    finally:
        if writer is not None:
            writer.close()
    return [rel]


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(src, dst)
