"""ILSVRC-2012 layout: both val layouts, class order, rejects, JPEG checks, RGB decode."""

import dataclasses
import io
import shutil

import numpy as np
import pytest
from PIL import Image

from raylab.config import ConfigError
from raylab.data.decode import DecodeError
from raylab.data.image_decode import BadImage, decode_image, probe_jpeg
from raylab.data.sources.imagenet import (
    KAGGLE_IMAGE_DIR,
    MAPPING_FILE,
    read_imagenet,
    read_synset_mapping,
)
from raylab.data.sources.synthetic_images import (
    DigitsSpec,
    digit_wnid,
    write_bad_image_fixtures,
    write_digits_imagenet,
)

SPEC = DigitsSpec(height_px=16, per_class=3, val_fraction=0.34)


@pytest.mark.parametrize("val_in_folders", [False, True])
def test_listing_labels_every_image_by_the_mapping(tmp_path, val_in_folders):
    spec = DigitsSpec(height_px=16, per_class=3, val_fraction=0.34, val_in_folders=val_in_folders)
    counts = write_digits_imagenet(tmp_path, spec)
    listing = read_imagenet(tmp_path)
    assert listing.val_layout == ("folders" if val_in_folders else "flat")
    assert listing.classes == [digit_wnid(d) for d in range(10)]
    assert listing.class_names[3] == "three, digit 3"
    assert listing.rejected == []
    by_split = {s: [i for i in listing.items if i.split == s] for s in ("train", "test")}
    assert {s: len(v) for s, v in by_split.items()} == counts == {"train": 20, "test": 10}
    for item in listing.items:
        assert (tmp_path / item.rel_path).is_file()
        assert listing.classes[item.label] == item.wnid
    # every digit has its one val image, whatever the layout says where the label comes from
    assert sorted(i.label for i in by_split["test"]) == list(range(10))
    by_uri = read_imagenet(tmp_path.as_uri())
    assert by_uri == dataclasses.replace(listing, image_dir=tmp_path.as_uri())


def test_images_under_the_kaggle_folders_are_listed_the_same(tmp_path):
    write_digits_imagenet(tmp_path / "plain", SPEC)
    plain = read_imagenet(tmp_path / "plain")
    kaggle = tmp_path / "kaggle"
    shutil.copytree(tmp_path / "plain", kaggle)
    (kaggle / KAGGLE_IMAGE_DIR).mkdir(parents=True)
    for sub in ("train", "val"):
        (kaggle / sub).rename(kaggle / KAGGLE_IMAGE_DIR / sub)
    for root, image_dir in [(kaggle, str(kaggle / KAGGLE_IMAGE_DIR)),
                            (kaggle.as_uri(), (kaggle / KAGGLE_IMAGE_DIR).as_uri())]:
        listing = read_imagenet(root)
        assert listing == dataclasses.replace(plain, image_dir=image_dir)
        assert all((kaggle / KAGGLE_IMAGE_DIR / i.rel_path).is_file() for i in listing.items)


def test_a_digit_subset_is_a_dataset_of_its_own_classes(tmp_path):
    """Digits 5-9 only (a transfer target): five classes, labelled 0-4 in digit order."""
    spec = DigitsSpec(height_px=16, per_class=3, val_fraction=0.34, digits=(7, 5, 9, 6, 8))
    assert write_digits_imagenet(tmp_path, spec) == {"train": 10, "test": 5}
    listing = read_imagenet(tmp_path)
    assert listing.classes == [digit_wnid(d) for d in range(5, 10)]
    assert listing.class_names[0] == "five, digit 5"
    assert sorted({listing.classes[i.label] for i in listing.items}) == listing.classes
    assert not (tmp_path / "train" / digit_wnid(4)).exists()
    with pytest.raises(ValueError, match="DigitsSpec.digits"):
        DigitsSpec(digits=(3, 3))


def test_class_order_is_the_mapping_files_order_not_sorted(tmp_path):
    write_digits_imagenet(tmp_path, SPEC)
    lines = (tmp_path / MAPPING_FILE).read_text().splitlines()
    (tmp_path / MAPPING_FILE).write_text("\n".join(lines[::-1]) + "\n")
    listing = read_imagenet(tmp_path)
    assert listing.classes == [digit_wnid(d) for d in range(9, -1, -1)]
    for item in listing.items:
        assert item.label == 9 - int(item.wnid[1:])


@pytest.mark.parametrize("val_in_folders", [False, True])
def test_bad_entries_are_rejected_with_reasons(tmp_path, val_in_folders):
    write_digits_imagenet(tmp_path, DigitsSpec(height_px=16, per_class=3, val_fraction=0.34,
                                               val_in_folders=val_in_folders))
    bad = write_bad_image_fixtures(tmp_path)
    listing = read_imagenet(tmp_path)
    reasons = dict(listing.rejected)
    listed = {i.rel_path for i in listing.items}
    # the listing alone catches wrong wnids, names, missing, unlisted and duplicate entries;
    # empty, truncated and non-JPEG files are listed and left to the decode check
    content = {p for p in bad if "empty" in p or "truncated" in p or "png" in p
               or (p.endswith("90000001.JPEG"))}
    assert set(bad) - content <= set(reasons)
    assert content <= listed
    assert "not in LOC_synset_mapping.txt" in reasons["train/n99999999/n99999999_1.JPEG"]
    assert "wnid n00000000_" in reasons["train/n00000000/n00000001_misplaced.JPEG"]
    if not val_in_folders:
        assert reasons["val/ILSVRC2012_val_90000002.JPEG"].startswith("missing file")
        assert "n99999999" in reasons["val/ILSVRC2012_val_90000003.JPEG"]
        assert "not listed" in reasons["val/ILSVRC2012_val_90000004.JPEG"]
        assert "duplicate entry" in reasons["val/ILSVRC2012_val_00000001.JPEG"]
        assert "val/ILSVRC2012_val_00000001.JPEG" in listed  # the first listing is kept


@pytest.mark.parametrize("text, fragment", [
    ("n01440764 tench\nn01440764 tench again\n", ":2: n01440764 is listed twice"),
    ("tench n01440764\n", ":1: expected '<wnid> <names>'"),
    ("\n", "found none"),
])
def test_a_bad_mapping_is_a_one_line_error(tmp_path, text, fragment):
    (tmp_path / MAPPING_FILE).write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        read_synset_mapping(tmp_path / MAPPING_FILE)


def test_missing_root_mapping_or_labels_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_imagenet(tmp_path / "nope")
    with pytest.raises(ConfigError, match="nope: expected an ImageNet root directory"):
        read_imagenet((tmp_path / "nope").as_uri())
    write_digits_imagenet(tmp_path, SPEC)
    (tmp_path / "LOC_val_solution.csv").unlink()
    with pytest.raises(ConfigError, match="LOC_val_solution.csv: expected ImageNet's val labels"):
        read_imagenet(tmp_path)


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGB"])
def test_greyscale_and_cmyk_decode_to_rgb(mode):
    rgb = Image.new("RGB", (48, 32), (200, 120, 40))
    if mode == "L":
        rgb = Image.new("RGB", (48, 32), (90, 90, 90))
    data = _jpeg(rgb.convert(mode))
    assert probe_jpeg(data).mode == mode and (probe_jpeg(data).width, probe_jpeg(data).height) \
        == (48, 32)
    out = decode_image(data, 16)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    # the colour survives the conversion (JPEG and CMYK round trips cost a few levels)
    assert np.abs(out.astype(int) - np.asarray(rgb.getpixel((0, 0)))).max() <= 6


def test_decode_keeps_the_central_square_of_the_shorter_side():
    image = np.zeros((32, 96, 3), np.uint8)
    image[:, 32:64] = 255  # white centre square, black sides
    out = decode_image(_jpeg(Image.fromarray(image)), 32)
    assert out.shape == (32, 32, 3)
    assert out[:, 2:-2].min() > 230  # only the white square is left


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"not an image at all", "not an image"),
])
def test_probe_rejects_non_images(data, reason):
    with pytest.raises(BadImage, match=reason):
        probe_jpeg(data)


def test_truncated_and_png_data_are_rejected():
    data = _jpeg(Image.effect_noise((64, 64), 40).convert("RGB"))
    with pytest.raises(BadImage, match="cannot decode"):
        probe_jpeg(data[: len(data) // 2])
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    with pytest.raises(BadImage, match="not a JPEG"):
        probe_jpeg(png.getvalue())
    with pytest.raises(DecodeError):
        decode_image(b"junk", 8)
