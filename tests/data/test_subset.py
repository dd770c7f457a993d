"""Few-shot subsets: N train videos per class, seeded, test split untouched, own manifest."""

from __future__ import annotations

import collections

import pyarrow.parquet as pq
import pytest

from raylab.cli import main
from raylab.config import ConfigError
from raylab.data import columns as C
from raylab.data.shards import read_manifest
from raylab.data.subset import choose_few_shot, write_subset


def _train_rows(shards):
    m = read_manifest(shards)
    rows = []
    for f in m["files"]["train"]:
        rows += pq.read_table(shards / f, columns=[C.VIDEO_ID, C.LABEL, C.SPLIT]).to_pylist()
    return rows


def test_subset_keeps_n_per_class_and_leaves_the_test_split_alone(tiny_shards, tmp_path):
    out = tmp_path / "two_shot"
    assert main(["subset", "--shards", str(tiny_shards), "--out", str(out), "--per-class", "2",
                 "--seed", "7"]) == 0
    source, subset = read_manifest(tiny_shards), read_manifest(out)
    rows = _train_rows(out)
    assert collections.Counter(r[C.LABEL] for r in rows) == {0: 2, 1: 2, 2: 2, 3: 2}
    assert all(r[C.SPLIT] == "train" for r in rows)
    assert subset["counts"] == {"train": 8, "test": source["counts"]["test"]}
    assert subset["classes"] == source["classes"]
    assert subset["subset"] == {"source": str(tiny_shards.resolve()), "per_class": 2, "seed": 7}
    source_ids = {r[C.VIDEO_ID]: r[C.LABEL] for r in _train_rows(tiny_shards)}
    assert all(source_ids[r[C.VIDEO_ID]] == r[C.LABEL] for r in rows)  # rows kept whole
    for f in source["files"]["test"]:  # byte for byte the source's test files
        assert (out / f).read_bytes() == (tiny_shards / f).read_bytes()
    assert subset["files"]["test"] == source["files"]["test"]


def test_subset_is_a_pure_function_of_the_seed(tiny_shards, tmp_path):
    def ids(seed, name):
        write_subset(tiny_shards, tmp_path / name, per_class=1, seed=seed, progress=lambda _: 0)
        return sorted(r[C.VIDEO_ID] for r in _train_rows(tmp_path / name))

    assert ids(0, "a") == ids(0, "b")
    assert len({tuple(ids(s, f"s{s}")) for s in range(6)}) > 1  # the seed matters
    # rewriting a directory replaces its subset instead of adding to it
    write_subset(tiny_shards, tmp_path / "a", per_class=3, seed=0, progress=lambda _: 0)
    assert read_manifest(tmp_path / "a")["counts"]["train"] == 12
    assert len(_train_rows(tmp_path / "a")) == 12


def test_choose_few_shot_refuses_a_class_with_too_few_videos():
    by_label = {0: ["a", "b", "c"], 1: ["d"]}
    assert len(choose_few_shot(by_label, ["X", "Y"], per_class=1, seed=0)) == 2
    with pytest.raises(ConfigError, match="class Y has 1 training videos, fewer than 2"):
        choose_few_shot(by_label, ["X", "Y"], per_class=2, seed=0)


def test_subset_bad_arguments_are_one_line_errors(tiny_shards, capsys):
    assert main(["subset", "--shards", str(tiny_shards), "--out", str(tiny_shards),
                 "--per-class", "1"]) == 2
    assert "is the source shards dir" in capsys.readouterr().err
    assert main(["subset", "--shards", "/nonexistent", "--out", "/tmp/x",
                 "--per-class", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/nonexistent/manifest.json" in err


def test_subset_of_image_shards_keeps_the_stats_and_mean_image(tiny_digits, tmp_path):
    from raylab.data.image_shards import read_pixel_stats

    out = tmp_path / "one_shot"
    subset = write_subset(tiny_digits, out, per_class=1, seed=3, progress=lambda _: 0)
    rows = []
    for f in subset["files"]["train"]:
        rows += pq.read_table(out / f, columns=[C.IMAGE_ID, C.LABEL]).to_pylist()
    assert collections.Counter(r[C.LABEL] for r in rows) == {d: 1 for d in range(10)}
    assert subset["counts"]["train"] == 10 and subset["kind"] == "image"
    stats = read_pixel_stats(out, subset)
    source = read_pixel_stats(tiny_digits, read_manifest(tiny_digits))
    assert (stats["mean_image"] == source["mean_image"]).all()
