"""JPEG bytes -> checked facts (ingest) and -> the uint8 RGB square the network sees (pipeline).

`decode_image` is the one resize used everywhere: the pipeline's training images and ingest's
pixel statistics both come from it, so the mean image matches the pixels it is subtracted from.
It rescales the shorter side to `size_px` and takes the central square (Krizhevsky et al. 2012
sec. 2: shorter side 256, central 256x256), converting greyscale and CMYK JPEGs to RGB (both
occur in ILSVRC-2012's train set).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from raylab.data.decode import DecodeError


class BadImage(Exception):
    """A file ingest must reject; `reason` is short and goes into the manifest."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageProbe:
    width: int
    height: int
    mode: str
    """PIL mode as stored ("RGB", "L", "CMYK"); decoding converts every one to RGB."""


def probe_jpeg(data: bytes) -> ImageProbe:
    """Size and mode of a JPEG, after decoding all of it (a truncated file fails here, not in
    training). Raises BadImage."""
    if not data:
        raise BadImage("empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                raise BadImage(f"not a JPEG ({image.format} data)")
            image.load()  # full decode: PIL raises on truncated data (LOAD_TRUNCATED_IMAGES off)
            return ImageProbe(image.width, image.height, image.mode)
    except UnidentifiedImageError:
        raise BadImage("not an image PIL can identify") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise BadImage(f"cannot decode: {err}") from None


def decode_image(data: bytes, size_px: int) -> np.ndarray:
    """uint8 (size_px, size_px, 3) RGB: shorter side resized to size_px, central square kept."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            # JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale while both sides stay >= size_px:
            # most of a large photo's decode cost is skipped before the resize.
            image.draft(None, (size_px, size_px))
            return _centre_square(image.convert("RGB"), size_px)
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as err:
        raise DecodeError(f"{type(err).__name__}: {err}") from None


def _centre_square(image: Image.Image, size_px: int) -> np.ndarray:
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    box = (left, top, left + side, top + side)
    return np.asarray(image.resize((size_px, size_px), Image.Resampling.BILINEAR, box=box))
