"""Decode on the train worker: encoded rows of the pipeline (data.decode_on=worker) -> the uint8
frames (B, T, S, S, 3) the augmentations take, on the worker's device.

JPEGs: torchvision's decode_jpeg takes the whole batch in one call, with nvJPEG when the device is
a GPU; the centre square is then resized to size_px on that device (bilinear with antialiasing,
as PIL resizes in the pipeline's decode_image; the two agree to a few levels, not bit for bit).
An image the batch call cannot take (nvJPEG lacks some JPEG variants) is decoded alone, on the
CPU if the GPU refuses it, before it counts as a failure.
Video: decode_clips with data.decode_backend, resolved here, in a process that runs torch: AUTO is
torchcodec with NVDEC on a GPU worker, PyAV on a CPU one.
A sample that fails to decode becomes zeros with decode_ok False, as in the pipeline, so the loop
skips and counts it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, decode_jpeg

from raylab.config import DecodeBackend
from raylab.data import columns as C
from raylab.data.decode import DecodeError, decode_clips, resolve_backend

log = logging.getLogger(__name__)


class ImageDecode:
    """Image batch with JPEG bytes -> the same batch with C.FRAMES (B, 1, S, S, 3) on `device`
    and C.DECODE_OK cleared for what failed."""

    def __init__(self, *, size_px: int, device: torch.device) -> None:
        self.size_px = size_px
        self.device = torch.device(device)

    def __call__(self, batch: dict) -> dict:
        frames, ok = decode_jpegs(batch.pop(C.IMAGE_BYTES), self.size_px, self.device)
        batch[C.FRAMES] = frames[:, None]  # images are clips of one frame
        batch[C.DECODE_OK] = batch[C.DECODE_OK] & ok
        return batch


class ClipDecode:
    """Video batch with encoded bytes and frame indices -> the same batch with C.FRAMES
    (B, T, S, S, 3) on `device` and C.DECODE_OK cleared for what failed. The backend is resolved
    once, so a missing decoder fails at start with its install hint, not at the first batch."""

    def __init__(self, *, size_px: int, device: torch.device, backend: DecodeBackend) -> None:
        self.size_px = size_px
        self.device = torch.device(device)
        self.backend = resolve_backend(backend)

    def __call__(self, batch: dict) -> dict:
        clips, ok = [], []
        for data, frame_pts, clip, video_id in zip(
                batch.pop(C.VIDEO_BYTES), batch.pop(C.FRAME_PTS), batch.pop(C.FRAME_INDICES),
                batch[C.VIDEO_ID], strict=True):
            try:
                clips.append(decode_clips(data, frame_pts, [clip.tolist()], size_px=self.size_px,
                                          backend=self.backend)[0])
                ok.append(True)
            except DecodeError as err:
                log.warning("decode failed for %s: %s", video_id, err)
                clips.append(np.zeros((len(clip), self.size_px, self.size_px, 3), np.uint8))
                ok.append(False)
        batch[C.FRAMES] = torch.from_numpy(np.stack(clips)).to(self.device)
        batch[C.DECODE_OK] = batch[C.DECODE_OK] & torch.tensor(ok, dtype=torch.bool)
        return batch


def decode_jpegs(blobs: Sequence[bytes], size_px: int,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, size_px, size_px, 3) RGB on `device` (shorter side resized to size_px, central
    square kept, greyscale and CMYK converted) and a bool (N,) mask of what decoded."""
    data = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in blobs]
    try:
        images = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:
        # One bad file fails the whole batch call: decode one by one to keep the others.
        images = [_decode_one(d, device) for d in data]
    out = torch.zeros((len(data), size_px, size_px, 3), dtype=torch.uint8, device=device)
    ok = torch.zeros(len(data), dtype=torch.bool)
    for i, image in enumerate(images):
        if image is not None:
            out[i] = _centre_square(image, size_px)
            ok[i] = True
    return out, ok


def _decode_one(data: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    for where in dict.fromkeys((device, torch.device("cpu"))):
        try:
            return decode_jpeg(data, mode=ImageReadMode.RGB, device=where).to(device)
        except RuntimeError:
            continue
    return None


def _centre_square(image: torch.Tensor, size_px: int) -> torch.Tensor:
    """uint8 (3, H, W) -> uint8 (size_px, size_px, 3): the central square, resized."""
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[None, :, top:top + side, left:left + side].float()
    resized = F.interpolate(square, size=(size_px, size_px), mode="bilinear", antialias=True,
                            align_corners=False)
    return resized[0].round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0)
