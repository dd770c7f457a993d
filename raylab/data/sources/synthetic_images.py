"""Write scikit-learn's bundled digits as an image dataset in ILSVRC-2012's exact on-disk layout.

The 1,797 real 8x8 handwritten-digit scans (UCI, bundled with scikit-learn: nothing is
downloaded) are upscaled to `height_px` RGB JPEGs, each with its own ink and paper colour and a
random extra width, so the RGB statistics and the shorter-side resize have work to do. Classes are
made-up wnids n00000000..n00000009 (digit d is n0000000d) in LOC_synset_mapping.txt (only the
digits written, so a set of digits 5-9 is a 5-class dataset of its own); a seeded
split puts `val_fraction` of each digit in val/ (flat with LOC_val_solution.csv, or wnid
folders). A few images are stored greyscale and CMYK, as in the real set.
`write_bad_image_fixtures` adds the broken entries ingest must reject. Reading is imagenet.py's job.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from raylab.data.sources.imagenet import IMAGE_SUFFIX, MAPPING_FILE, VAL_SOLUTION_FILE

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_JPEG_QUALITY = 90


@dataclass(frozen=True)
class DigitsSpec:
    height_px: int = 64
    """Image height (the shorter side); the 8x8 scan is upscaled bilinearly to this."""
    max_extra_width_px: int = 16
    """Each image is wider than tall by a random 0..this many pixels of paper colour."""
    val_fraction: float = 0.2
    """Share of each digit's images written to val/ (ILSVRC's val = our test split)."""
    per_class: int = 0
    """Images per digit to write (0 = all, about 180 each); tests use a few."""
    val_in_folders: bool = False
    """val/<wnid>/ folders instead of a flat val/ with LOC_val_solution.csv."""
    greyscale_images: int = 2
    """Images per split stored as single-channel (mode L) JPEGs."""
    cmyk_images: int = 2
    """Images per split stored as CMYK JPEGs."""
    seed: int = 0
    digits: tuple[int, ...] = tuple(range(10))
    """Which digits (classes) to write; the rest are left out, e.g. for a transfer split."""

    def __post_init__(self) -> None:
        if not self.digits or len(set(self.digits)) != len(self.digits) or not all(
                0 <= d <= 9 for d in self.digits):
            raise ValueError(f"DigitsSpec.digits: expected distinct digits 0-9, got {self.digits}")


def digit_wnid(digit: int) -> str:
    return f"n{digit:08d}"


def write_digits_imagenet(root: Path, spec: DigitsSpec = DigitsSpec()) -> dict[str, int]:
    """Write the dataset under `root`; returns {"train": n, "test": n} images written."""
    root = Path(root)
    digits = load_digits()
    rng = np.random.default_rng(spec.seed)
    (root / "train").mkdir(parents=True, exist_ok=True)
    (root / "val").mkdir(parents=True, exist_ok=True)
    (root / MAPPING_FILE).write_text("".join(
        f"{digit_wnid(d)} {DIGIT_NAMES[d]}, digit {d}\n" for d in sorted(spec.digits)))
    train: list[tuple[int, int]] = []  # (digit, index into digits.images)
    val: list[tuple[int, int]] = []
    for d in sorted(spec.digits):
        idx = rng.permutation(np.flatnonzero(digits.target == d))
        if spec.per_class:
            idx = idx[: spec.per_class]
        n_val = max(1, round(len(idx) * spec.val_fraction))
        val += [(d, int(i)) for i in idx[:n_val]]
        train += [(d, int(i)) for i in idx[n_val:]]
    for n, (d, i) in enumerate(train):
        wnid = digit_wnid(d)
        (root / "train" / wnid).mkdir(exist_ok=True)
        path = root / "train" / wnid / f"{wnid}_{i}{IMAGE_SUFFIX}"
        path.write_bytes(_jpeg(digits.images[i], spec, rng, _mode(n, spec)))
    solution = ["ImageId,PredictionString"]
    for n, k in enumerate(rng.permutation(len(val))):
        d, i = val[k]
        image_id = f"ILSVRC2012_val_{n + 1:08d}"
        folder = root / "val" / (digit_wnid(d) if spec.val_in_folders else "")
        folder.mkdir(exist_ok=True)
        data = _jpeg(digits.images[i], spec, rng, _mode(n, spec))
        (folder / f"{image_id}{IMAGE_SUFFIX}").write_bytes(data)
        # Like the real file: wnid and a box "x_min y_min x_max y_max", here the whole image.
        width, height = Image.open(io.BytesIO(data)).size
        solution.append(f"{image_id},{digit_wnid(d)} 0 0 {width - 1} {height - 1} ")
    if not spec.val_in_folders:
        (root / VAL_SOLUTION_FILE).write_text("\n".join(solution) + "\n")
    return {"train": len(train), "test": len(val)}


def _mode(n: int, spec: DigitsSpec) -> str:
    if n < spec.greyscale_images:
        return "L"
    if n < spec.greyscale_images + spec.cmyk_images:
        return "CMYK"
    return "RGB"


def _jpeg(scan: np.ndarray, spec: DigitsSpec, rng: np.random.Generator, mode: str) -> bytes:
    """An 8x8 scan (0..16 ink) as a JPEG: upscaled, coloured, padded to a random width."""
    ink = Image.fromarray((scan / 16.0).astype(np.float32), mode="F")
    ink = np.asarray(ink.resize((spec.height_px, spec.height_px), Image.Resampling.BILINEAR))
    paper, pen = rng.integers(0, 110, size=3), rng.integers(150, 256, size=3)
    if rng.random() < 0.5:
        paper, pen = pen, paper
    pixels = paper + np.clip(ink, 0, 1)[..., None] * (pen - paper)
    extra = int(rng.integers(0, spec.max_extra_width_px + 1))
    left = extra // 2
    canvas = np.broadcast_to(paper, (spec.height_px, spec.height_px + extra, 3)).copy()
    canvas[:, left : left + spec.height_px] = pixels
    image = Image.fromarray(canvas.round().astype(np.uint8), mode="RGB").convert(mode)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=_JPEG_QUALITY)
    return buf.getvalue()


def write_bad_image_fixtures(root: Path) -> list[str]:
    """Add entries ingest must reject to a dataset written by `write_digits_imagenet`; returns
    their paths relative to `root` (each must appear in the manifest's rejects)."""
    root = Path(root)
    w0, w1 = digit_wnid(0), digit_wnid(1)
    good = next((root / "train" / w0).glob(f"*{IMAGE_SUFFIX}")).read_bytes()
    png = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(png, format="PNG")
    files = {
        f"train/{w0}/{w0}_empty{IMAGE_SUFFIX}": b"",
        f"train/{w0}/{w0}_truncated{IMAGE_SUFFIX}": good[: len(good) // 2],
        f"train/{w0}/{w0}_png{IMAGE_SUFFIX}": png.getvalue(),
        f"train/{w0}/{w1}_misplaced{IMAGE_SUFFIX}": good,  # name's wnid is not its folder's
        f"train/n99999999/n99999999_1{IMAGE_SUFFIX}": good,  # wnid not in the mapping
    }
    bad = list(files)
    solution = root / VAL_SOLUTION_FILE
    if solution.is_file():
        first = solution.read_text().splitlines()[1]
        files[f"val/ILSVRC2012_val_90000001{IMAGE_SUFFIX}"] = b""
        files[f"val/ILSVRC2012_val_90000003{IMAGE_SUFFIX}"] = good
        files[f"val/ILSVRC2012_val_90000004{IMAGE_SUFFIX}"] = good
        with solution.open("a") as f:
            f.write(f"ILSVRC2012_val_90000001,{w0} 0 0 1 1\n"  # zero-byte file
                    f"ILSVRC2012_val_90000002,{w0} 0 0 1 1\n"  # no such file
                    f"ILSVRC2012_val_90000003,n99999999 0 0 1 1\n"  # wnid not in the mapping
                    f"{first}\n")  # a duplicate row: the first one is kept
        # ..._90000004 is on disk but not in the csv
        bad += [f"val/ILSVRC2012_val_9000000{k}{IMAGE_SUFFIX}" for k in (1, 2, 3, 4)]
        bad.append(f"val/{first.split(',')[0]}{IMAGE_SUFFIX}")
    else:
        files[f"val/{w0}/ILSVRC2012_val_90000001{IMAGE_SUFFIX}"] = b""
        bad.append(f"val/{w0}/ILSVRC2012_val_90000001{IMAGE_SUFFIX}")
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return bad
