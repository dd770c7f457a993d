"""Image ingest (a Ray Data job): rows keep the original JPEG bytes, rejects carry reasons, a
crashing decoder costs one image, a rerun rewrites only lost parts, and the manifest's pixel
statistics, summed per part, equal one pass over the same decoded training pixels."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from raylab.config import ConfigError, IngestConfig
from raylab.data import columns as C
from raylab.data.image_decode import decode_image
from raylab.data.image_ingest import ingest_imagenet
from raylab.data.image_probe import ImageSource, prepare_image
from raylab.data.image_shards import read_pixel_stats
from raylab.data.image_stats import PixelSums, finish
from raylab.data.isolate import CRASHED
from raylab.data.part_job import TooManyRejects
from raylab.data.shards import DatasetKind, dataset_kind, read_manifest
from raylab.data.sources.imagenet import read_imagenet
from raylab.data.sources.synthetic_images import (
    DigitsSpec,
    write_bad_image_fixtures,
    write_digits_imagenet,
)

SPEC = DigitsSpec(height_px=16, per_class=4, val_fraction=0.5)
SIZE_PX = 16
# ~4 kB of JPEGs per part: each split is cut into several parts.
SMALL_PARTS = IngestConfig(shard_target_mb=0.004, max_reject_fraction=1.0)


def _rows(shards: Path, split: str) -> list[dict]:
    manifest = read_manifest(shards)
    return [r for f in manifest["files"][split]
            for r in pq.read_table(shards / f).to_pylist()]


class Ingested:
    """Digits with broken files, ingested in small parts to a file:// URI."""

    def __init__(self, root: Path, out: Path) -> None:
        self.raw, self.out = root / "raw", out
        write_digits_imagenet(self.raw, SPEC)
        self.bad = write_bad_image_fixtures(self.raw)
        self.lines: list[str] = []
        # A file:// URI for the output: the same code path as s3:// or gs://.
        self.manifest = ingest_imagenet(self.raw, out.as_uri(), cfg=SMALL_PARTS,
                                        resize_px=SIZE_PX, progress=self.lines.append)

    def parts(self) -> list[str]:
        return [f for files in self.manifest["files"].values() for f in files]


@pytest.fixture(scope="module")
def ingested(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    return Ingested(tmp_path_factory.mktemp("digits"), tmp_path_factory.mktemp("shards"))


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


def test_stats_summed_per_part_equal_one_pass_over_the_listing(ingested: Ingested) -> None:
    assert len(ingested.manifest["files"]["train"]) >= 3  # the sums of several parts are added
    listing = read_imagenet(ingested.raw)
    one_pass = PixelSums(SIZE_PX)
    for item in listing.items:
        if item.split == "train" and item.rel_path not in ingested.bad:
            image = Path(listing.image_dir) / item.rel_path
            one_pass.add(decode_image(image.read_bytes(), SIZE_PX))
    expected = finish(one_pass)
    stats = read_pixel_stats(ingested.out.as_uri(), ingested.manifest)
    assert stats["num_images"] == expected.num_images == ingested.manifest["counts"]["train"]
    np.testing.assert_allclose(stats["mean_image"], expected.mean_image)
    np.testing.assert_allclose(stats["mean_rgb"], expected.mean_rgb)
    np.testing.assert_allclose(stats["rgb_eigval"], expected.eigval)
    np.testing.assert_allclose(stats["rgb_eigvec"], expected.eigvec)


def test_output_uri_holds_the_manifest_it_returned(ingested: Ingested) -> None:
    on_disk = json.loads((ingested.out / C.MANIFEST).read_text())
    assert on_disk == ingested.manifest == read_manifest(ingested.out.as_uri())
    assert (ingested.out / on_disk["pixel_stats"]["mean_image_file"]).is_file()
    for part in ingested.parts():
        assert pq.read_table(ingested.out / part).num_rows > 0
    # Greyscale and CMYK JPEGs are usable: kept as stored, decoded to RGB by the pipeline.
    modes = {Image.open(io.BytesIO(r[C.IMAGE_BYTES])).mode
             for split in ("train", "test") for r in _rows(ingested.out, split)}
    assert modes == {"RGB", "L", "CMYK"}


def test_a_file_uri_root_gives_the_same_shards(ingested: Ingested, tmp_path: Path) -> None:
    # file:// takes the code path of s3:// and gs:// roots: listing and reading through pyarrow.
    out = tmp_path / "out"
    manifest = ingest_imagenet(ingested.raw.as_uri(), out, cfg=SMALL_PARTS, resize_px=SIZE_PX,
                               progress=lambda _: None)
    assert manifest == ingested.manifest  # counts, files, rejects, pixel statistics
    for part in ingested.parts():
        assert pq.read_table(out / part).to_pylist() == \
            pq.read_table(ingested.out / part).to_pylist()
    np.testing.assert_array_equal(read_pixel_stats(out, manifest)["mean_image"],
                                  read_pixel_stats(ingested.out, manifest)["mean_image"])


def test_broken_files_are_rejected_with_reasons_not_fatal(ingested: Ingested) -> None:
    reasons = {r["path"]: r["reason"] for r in ingested.manifest["rejected"]}
    assert set(ingested.bad) == set(reasons)
    assert reasons["train/n00000000/n00000000_empty.JPEG"] == "empty file"
    assert reasons["train/n00000000/n00000000_truncated.JPEG"].startswith("cannot decode")
    assert reasons["train/n00000000/n00000000_png.JPEG"] == "not a JPEG (PNG data)"
    assert reasons["val/ILSVRC2012_val_90000001.JPEG"] == "empty file"
    assert ingested.manifest["counts"] == {"train": 20, "test": 20}


def test_progress_reports_parts_up_to_the_total(ingested: Ingested) -> None:
    parts = len(ingested.parts())
    written = [line for line in ingested.lines
               if re.fullmatch(r"ingest: \d+/\d+ parts written", line)]
    assert written and written[-1] == f"ingest: {parts}/{parts} parts written"


def test_a_rerun_rewrites_only_the_lost_parts(ingested: Ingested) -> None:
    out = ingested.out
    before = {f: (out / f).stat().st_mtime_ns for f in ingested.parts()}
    train, test = ingested.manifest["files"]["train"], ingested.manifest["files"]["test"]
    lost, killed, vanished = train[0], train[1], test[0]
    (out / lost).unlink()  # lost with its done record
    (out / "_done" / f"{lost.replace('/', '-')}.json").unlink()
    # A writer killed mid-part: half a file, no done record.
    (out / killed).write_bytes((out / killed).read_bytes()[:100])
    (out / "_done" / f"{killed.replace('/', '-')}.json").unlink()
    (out / vanished).unlink()  # its done record is left, naming a file that is gone
    lines: list[str] = []
    again = ingest_imagenet(ingested.raw, out, cfg=SMALL_PARTS, resize_px=SIZE_PX,
                            progress=lines.append)
    assert again == ingested.manifest
    assert (f"ingest: {len(before)} parts planned, {len(before) - 3} already written, "
            f"3 to write") in lines
    after = {f: (out / f).stat().st_mtime_ns for f in before}
    assert sorted(f for f in before if after[f] != before[f]) == sorted([lost, killed, vanished])
    np.testing.assert_array_equal(read_pixel_stats(out, again)["mean_image"],
                                  read_pixel_stats(out, ingested.manifest)["mean_image"])


def test_a_changed_resize_redoes_every_part(ingested: Ingested, tmp_path: Path) -> None:
    shutil.copytree(ingested.out, tmp_path / "out")
    lines: list[str] = []
    manifest = ingest_imagenet(ingested.raw, tmp_path / "out", cfg=SMALL_PARTS,
                               resize_px=SIZE_PX + 4, progress=lines.append)
    parts = len(ingested.parts())
    assert f"ingest: {parts} parts planned, 0 already written, {parts} to write" in lines
    assert read_pixel_stats(tmp_path / "out", manifest)["mean_image"].shape == (20, 20, 3)


def test_a_crashing_decoder_costs_one_image(ingested: Ingested, tmp_path: Path) -> None:
    victim = next(i for i in read_imagenet(ingested.raw).items
                  if i.split == "train" and i.rel_path not in ingested.bad).rel_path

    def abort_on_one_file(source: ImageSource):
        # What a segfaulting JPEG decoder looks like: the process dies, no exception to catch.
        if source.uri.endswith(victim):
            os.abort()
        return prepare_image(source)

    manifest = ingest_imagenet(ingested.raw, tmp_path / "out", cfg=SMALL_PARTS,
                               resize_px=SIZE_PX, progress=lambda _: None,
                               prepare=abort_on_one_file)
    assert {"path": victim, "reason": CRASHED} in manifest["rejected"]
    assert len(manifest["rejected"]) == len(ingested.manifest["rejected"]) + 1
    assert manifest["counts"]["train"] == ingested.manifest["counts"]["train"] - 1
    assert manifest["pixel_stats"]["num_images"] == manifest["counts"]["train"]


def test_too_many_rejects_fail_after_writing_the_manifest(ingested: Ingested,
                                                          tmp_path: Path) -> None:
    # A copy of the finished shards: the rerun skips every part and only judges the rejects.
    shutil.copytree(ingested.out, tmp_path / "out")
    (tmp_path / "out" / C.MANIFEST).unlink()
    strict = IngestConfig(shard_target_mb=SMALL_PARTS.shard_target_mb, max_reject_fraction=0.1)
    with pytest.raises(TooManyRejects) as err:
        ingest_imagenet(ingested.raw, tmp_path / "out", cfg=strict, resize_px=SIZE_PX,
                        progress=lambda _: None)
    rejected = len(ingested.bad)
    listed = sum(ingested.manifest["counts"].values()) + rejected
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"ingest: {rejected} of {listed} listed images rejected")
    assert read_manifest(tmp_path / "out")["rejected"] == ingested.manifest["rejected"]


def test_nothing_usable_is_a_config_error(ray_session, tmp_path):
    write_digits_imagenet(tmp_path / "raw", DigitsSpec(height_px=16, per_class=2,
                                                       val_fraction=0.5))
    for f in (tmp_path / "raw" / "train").rglob("*.JPEG"):
        f.write_bytes(b"")
    with pytest.raises(ConfigError, match="expected usable training images.*empty file"):
        ingest_imagenet(tmp_path / "raw", tmp_path / "shards", resize_px=16,
                        cfg=SMALL_PARTS, progress=lambda _: None)
    assert not (tmp_path / "shards" / C.MANIFEST).exists()


def test_cli_ingest_imagenet(ingested: Ingested, tmp_path, capsys):
    from raylab.cli import main

    args = ["ingest", "imagenet", "--root", str(ingested.raw), "--out", str(tmp_path / "out"),
            "--resize-px", "20"]
    assert main(args) == 2  # a fifth of the files are broken: over the default 1%
    err = capsys.readouterr().err
    assert err.startswith(f"raylab: error: ingest: {len(ingested.bad)} of ") and \
        err.count("\n") == 1
    assert main([*args, "--max-reject-fraction", "0.5"]) == 0
    assert "20 train / 20 val images" in capsys.readouterr().out
    assert read_manifest(tmp_path / "out")["pixel_stats"]["resize_px"] == 20
    assert main(["ingest", "imagenet", "--root", str(tmp_path / "nope"), "--out",
                 str(tmp_path / "out")]) == 2
