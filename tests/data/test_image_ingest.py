"""Image ingest: rows keep the original JPEG bytes, rejects carry reasons, and the manifest's
pixel statistics equal numpy's on the same decoded training pixels."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from raylab.config import ConfigError
from raylab.data import columns as C
from raylab.data.image_decode import decode_image
from raylab.data.image_ingest import ingest_imagenet
from raylab.data.image_shards import read_pixel_stats
from raylab.data.shards import DatasetKind, dataset_kind, read_manifest
from raylab.data.sources.synthetic_images import (
    DigitsSpec,
    write_bad_image_fixtures,
    write_digits_imagenet,
)


def _rows(shards: Path, split: str) -> list[dict]:
    manifest = read_manifest(shards)
    return [r for f in manifest["files"][split]
            for r in pq.read_table(shards / f).to_pylist()]


def test_shards_hold_every_usable_image_with_its_original_bytes(tiny_digits):
    manifest = read_manifest(tiny_digits)
    assert dataset_kind(manifest) == DatasetKind.IMAGE
    raw = tiny_digits.parent / "raw"
    for split in ("train", "test"):
        rows = _rows(tiny_digits, split)
        assert len(rows) == manifest["counts"][split]
        assert len({r[C.IMAGE_ID] for r in rows}) == len(rows)
        for r in rows:
            assert r[C.IMAGE_BYTES] == (raw / r[C.SOURCE_PATH]).read_bytes()
            assert r[C.SPLIT] == split
            assert manifest["classes"][r[C.LABEL]] == r[C.CLASS_NAME]
            assert r[C.HEIGHT] == 32 and 32 <= r[C.WIDTH] <= 48
    assert manifest["counts"] == {"train": 40, "test": 20}


def test_manifest_statistics_match_numpy_on_the_training_pixels(tiny_digits):
    manifest = read_manifest(tiny_digits)
    stats = read_pixel_stats(tiny_digits, manifest)
    images = np.stack([decode_image(r[C.IMAGE_BYTES], 40) for r in _rows(tiny_digits, "train")])
    pixels = images.reshape(-1, 3).astype(np.float64)
    assert stats["num_images"] == len(images) and stats["resize_px"] == 40
    np.testing.assert_allclose(stats["mean_image"], images.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(stats["mean_rgb"], pixels.mean(axis=0), rtol=1e-9)
    cov = np.cov(pixels, rowvar=False, bias=True)
    eigval = np.asarray(stats["rgb_eigval"])
    eigvec = np.asarray(stats["rgb_eigvec"])
    assert np.all(np.diff(eigval) <= 0)  # largest first
    for value, vector in zip(eigval, eigvec):
        np.testing.assert_allclose(cov @ vector, value * vector, atol=1e-6 * eigval[0])
    np.testing.assert_allclose(eigvec @ eigvec.T, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(eigval, np.linalg.eigvalsh(cov)[::-1], rtol=1e-9)


def test_bad_inputs_are_rejected_with_reasons_not_fatal(tmp_path):
    write_digits_imagenet(tmp_path / "raw", DigitsSpec(height_px=16, per_class=2,
                                                       val_fraction=0.5))
    bad = write_bad_image_fixtures(tmp_path / "raw")
    manifest = ingest_imagenet(tmp_path / "raw", tmp_path / "shards", resize_px=16,
                               progress=lambda _: None)
    reasons = {r["path"]: r["reason"] for r in manifest["rejected"]}
    assert set(bad) == set(reasons)
    assert reasons["train/n00000000/n00000000_empty.JPEG"] == "empty file"
    assert reasons["train/n00000000/n00000000_truncated.JPEG"].startswith("cannot decode")
    assert reasons["train/n00000000/n00000000_png.JPEG"] == "not a JPEG (PNG data)"
    assert reasons["val/ILSVRC2012_val_90000001.JPEG"] == "empty file"
    assert manifest["counts"] == {"train": 10, "test": 10}
    on_disk = json.loads((tmp_path / "shards" / C.MANIFEST).read_text())
    assert on_disk["rejected"] == manifest["rejected"]


def test_nothing_usable_is_a_config_error(tmp_path):
    write_digits_imagenet(tmp_path / "raw", DigitsSpec(height_px=16, per_class=2,
                                                       val_fraction=0.5))
    for f in (tmp_path / "raw" / "train").rglob("*.JPEG"):
        f.write_bytes(b"")
    with pytest.raises(ConfigError, match="expected usable training images.*empty file"):
        ingest_imagenet(tmp_path / "raw", tmp_path / "shards", resize_px=16,
                        progress=lambda _: None)
    assert not (tmp_path / "shards" / C.MANIFEST).exists()


def test_cli_ingest_imagenet(tmp_path, capsys):
    from raylab.cli import main

    write_digits_imagenet(tmp_path / "raw", DigitsSpec(height_px=16, per_class=2,
                                                       val_fraction=0.5))
    assert main(["ingest", "imagenet", "--root", str(tmp_path / "raw"), "--out",
                 str(tmp_path / "out"), "--resize-px", "20"]) == 0
    assert "10 train / 10 val images" in capsys.readouterr().out
    assert read_manifest(tmp_path / "out")["pixel_stats"]["resize_px"] == 20
    assert main(["ingest", "imagenet", "--root", str(tmp_path / "nope"), "--out",
                 str(tmp_path / "out")]) == 2
