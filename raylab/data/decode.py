"""Decode only the frames clips need: seek to the keyframe before them, decode forward.

Frames are addressed by their presentation timestamps (stored in the shard at ingest), so B-frames,
pts gaps and variable frame rates do not shift indices. Output frames are the centre square of the
picture resized to `size_px` (Karpathy et al. 2014: centre crop, resize), as uint8 (T, H, W, 3).
`decode_video` is the other access pattern: every frame in order, whole picture, shorter side
resized (what optical flow needs). PyAV is the backend here; a failure raises `DecodeError`, never
returns silent zeros.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import av
import numpy as np
from PIL import Image

# Decoding ~32 frames of 320x240 MPEG-4 costs about what a seek plus a partial GOP does.
_SEEK_GAP_FRAMES = 32


class DecodeError(RuntimeError):
    """The bytes could not be decoded into the requested frames."""


def decode_clip(
    data: bytes, frame_pts: Sequence[int], indices: Sequence[int], *, size_px: int,
) -> np.ndarray:
    """Frames `indices` (into `frame_pts`) of the video in `data`, as uint8 (T, size, size, 3)."""
    return decode_clips(data, frame_pts, [indices], size_px=size_px)[0]


def decode_clips(
    data: bytes, frame_pts: Sequence[int], clips: Sequence[Sequence[int]], *, size_px: int,
) -> list[np.ndarray]:
    """Several clips of one video in one pass: each needed frame is decoded and resized once.

    Needed frames are grouped into runs; a run starts with a seek to the keyframe before it and
    decodes forward; a gap of more than _SEEK_GAP_FRAMES frames starts a new run (past that,
    seeking is cheaper than decoding through the gap)."""
    try:
        wanted = sorted({int(frame_pts[i]) for clip in clips for i in clip})
    except IndexError:
        raise DecodeError(f"frame index out of range (video has {len(frame_pts)} frames)") from None
    if not wanted:
        raise DecodeError("no frames requested")
    try:
        frames = _decode_runs(data, wanted, _runs(frame_pts, wanted), size_px)
    except (av.error.FFmpegError, ValueError, OSError, IndexError) as err:
        raise DecodeError(f"{type(err).__name__}: {err}") from None
    missing = [p for p in wanted if p not in frames]
    if missing:
        raise DecodeError(
            f"{len(missing)} of {len(wanted)} frames not found (first pts {missing[0]})")
    return [np.stack([frames[int(frame_pts[i])] for i in clip]) for clip in clips]


def decode_video(data: bytes, frame_pts: Sequence[int], *, short_side_px: int) -> np.ndarray:
    """Every frame of the video, the whole picture resized (aspect kept) so its shorter side is
    `short_side_px`, as uint8 (T, H, W, 3) in `frame_pts` order.

    One forward decode, no seeks. Its centre square equals `decode_clips`' frame at
    size_px=short_side_px up to resampling, so spatial crops can be aligned with it."""
    wanted = {int(p) for p in frame_pts}
    got: dict[int, np.ndarray] = {}
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            for frame in container.decode(container.streams.video[0]):
                if frame.pts in wanted:
                    got[frame.pts] = _short_side(frame.to_image(), short_side_px)
    except (av.error.FFmpegError, ValueError, OSError, IndexError) as err:
        raise DecodeError(f"{type(err).__name__}: {err}") from None
    missing = [p for p in frame_pts if int(p) not in got]
    if missing:
        raise DecodeError(
            f"{len(missing)} of {len(frame_pts)} frames not found (first pts {missing[0]})")
    return np.stack([got[int(p)] for p in frame_pts])


def _short_side(image: Image.Image, side_px: int) -> np.ndarray:
    w, h = image.size
    scale = side_px / min(w, h)
    size = (side_px, round(h * scale)) if w <= h else (round(w * scale), side_px)
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR))


def _runs(frame_pts: Sequence[int], wanted: list[int]) -> list[list[int]]:
    position = {int(p): i for i, p in enumerate(frame_pts)}
    runs = [[wanted[0]]]
    for pts in wanted[1:]:
        if position[pts] - position[runs[-1][-1]] > _SEEK_GAP_FRAMES:
            runs.append([pts])
        else:
            runs[-1].append(pts)
    return runs


def _decode_runs(data: bytes, wanted: list[int], runs: list[list[int]], size_px: int):
    got: dict[int, np.ndarray] = {}
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        for run in runs:
            got.update(_decode_from(container, stream, run, size_px, seek=True))
        if len(got) < len(wanted):
            # Some indexes make the demuxer land after the target; a decode from the start is
            # slower but always correct.
            got.update(_decode_from(container, stream, wanted, size_px, seek=False))
    return got


def _decode_from(container, stream, wanted: list[int], size_px: int, *, seek: bool):
    target = set(wanted)
    got: dict[int, np.ndarray] = {}
    container.seek(wanted[0] if seek else 0, stream=stream, backward=True, any_frame=False)
    for frame in container.decode(stream):
        pts = frame.pts
        if pts is None:
            continue
        if seek and not got and pts > wanted[0]:
            return got  # landed past the first wanted frame: let the caller decode from 0
        if pts in target:
            got[pts] = _centre_square(frame.to_image(), size_px)
            if len(got) == len(target):
                break
        elif pts > wanted[-1]:
            break
    return got


def _centre_square(image: Image.Image, size_px: int) -> np.ndarray:
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    box = (left, top, left + side, top + side)
    return np.asarray(image.resize((size_px, size_px), Image.Resampling.BILINEAR, box=box))
