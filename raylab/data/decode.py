"""Decode only the frames clips need, behind one function (`decode_clips`) for every backend.

Frame i of a video is the i-th in presentation order (its pts is frame_pts[i], stored at ingest),
so B-frames, pts gaps and variable frame rates do not shift indices. Backends (DecodeBackend):
PyAV seeks to the keyframe before the frames and decodes forward; torchcodec decodes the same
frames by index with an exact (scanned) index, on the CPU or on a CUDA GPU (NVDEC); AUTO picks
CUDA in a process that runs torch with a GPU (a train worker), else PyAV. Output frames are the
centre square resized to `size_px` (Karpathy et al. 2014: centre crop, resize), uint8
(T, H, W, 3); the CPU backends give identical pixels. `decode_video` is the other access
pattern: every frame in order, whole picture, shorter side resized (what optical flow needs,
PyAV). A failure raises `DecodeError`, never returns silent zeros.
"""

from __future__ import annotations

import functools
import io
import sys
from collections.abc import Sequence

import av
import numpy as np
from PIL import Image

from raylab.config import ConfigError, DecodeBackend

# Decoding ~32 frames of 320x240 MPEG-4 costs about what a seek plus a partial GOP does.
_SEEK_GAP_FRAMES = 32


class DecodeError(RuntimeError):
    """The bytes could not be decoded into the requested frames."""


def decode_clip(
    data: bytes, frame_pts: Sequence[int], indices: Sequence[int], *, size_px: int,
    backend: DecodeBackend = DecodeBackend.PYAV,
) -> np.ndarray:
    """Frames `indices` (into `frame_pts`) of the video in `data`, as uint8 (T, size, size, 3)."""
    return decode_clips(data, frame_pts, [indices], size_px=size_px, backend=backend)[0]


def decode_clips(
    data: bytes, frame_pts: Sequence[int], clips: Sequence[Sequence[int]], *, size_px: int,
    backend: DecodeBackend = DecodeBackend.PYAV,
) -> list[np.ndarray]:
    """Several clips of one video in one pass: each needed frame is decoded and resized once."""
    if any(not 0 <= i < len(frame_pts) for clip in clips for i in clip):
        raise DecodeError(f"frame index out of range (video has {len(frame_pts)} frames)")
    if not any(clips):
        raise DecodeError("no frames requested")
    chosen = resolve_backend(backend)
    if chosen is DecodeBackend.PYAV:
        frames = _pyav_frames(data, frame_pts, clips, size_px)
    else:
        device = "cuda" if chosen is DecodeBackend.TORCHCODEC_CUDA else "cpu"
        frames = _torchcodec_frames(data, len(frame_pts), clips, size_px, device)
    return [np.stack([frames[i] for i in clip]) for clip in clips]


def resolve_backend(backend: DecodeBackend) -> DecodeBackend:
    """The backend `backend` means in this process; ConfigError when it cannot run here.

    AUTO looks for a GPU only in a process that already runs torch (a train worker): a Ray Data
    decode task holds no GPU, and importing torch there would cost every task time and memory."""
    backend = DecodeBackend(backend)
    if backend is DecodeBackend.AUTO:
        torch = sys.modules.get("torch")
        gpu = torch is not None and torch.cuda.is_available()
        return DecodeBackend.TORCHCODEC_CUDA if gpu else DecodeBackend.PYAV
    if backend is DecodeBackend.TORCHCODEC_CUDA:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("data.decode_backend: torchcodec_cuda needs a CUDA GPU in the "
                              "decoding process, and there is none (use auto or pyav)")
    if backend is not DecodeBackend.PYAV:
        _video_decoder_class()  # fail here, once, with the install hint
    return backend


@functools.cache
def _video_decoder_class():
    try:
        from torchcodec.decoders import VideoDecoder
    except (ImportError, OSError, RuntimeError) as err:
        raise ConfigError(f"data.decode_backend: torchcodec cannot load ({type(err).__name__}); "
                          f"it needs FFmpeg's shared libraries (e.g. apt-get install ffmpeg)"
                          ) from None
    return VideoDecoder


def _torchcodec_frames(
    data: bytes, num_frames: int, clips: Sequence[Sequence[int]], size_px: int, device: str,
) -> dict[int, np.ndarray]:
    """{frame index: resized frame}. seek_mode="exact" scans the file once and sorts frames by
    pts, which is how ingest numbered them; a count that differs means the two disagree on what
    a frame is (e.g. AVI dropped-frame chunks), so nothing is returned rather than wrong frames."""
    wanted = sorted({i for clip in clips for i in clip})
    try:
        decoder = _video_decoder_class()(data, seek_mode="exact", dimension_order="NCHW",
                                         num_ffmpeg_threads=1, device=device)
        if decoder.metadata.num_frames != num_frames:
            raise DecodeError(f"torchcodec counts {decoder.metadata.num_frames} frames, ingest "
                              f"{num_frames}")
        batch = decoder.get_frames_at(indices=wanted).data  # uint8 (N, 3, H, W) on `device`
    except DecodeError:
        raise
    except (RuntimeError, ValueError, IndexError) as err:
        raise DecodeError(f"{type(err).__name__}: {err}") from None
    if device == "cpu":
        # Through PIL like the PyAV path, so both CPU backends give identical pixels.
        return {i: _centre_square(Image.fromarray(f.permute(1, 2, 0).numpy()), size_px)
                for i, f in zip(wanted, batch, strict=True)}
    return dict(zip(wanted, _centre_square_gpu(batch, size_px), strict=True))


def _centre_square_gpu(batch, size_px: int) -> list[np.ndarray]:
    """Crop and resize on the GPU; only the small resized frames cross to the host."""
    import torch.nn.functional as F

    h, w = batch.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = batch[:, :, top:top + side, left:left + side].float()
    resized = F.interpolate(square, size=(size_px, size_px), mode="bilinear", antialias=True)
    out = resized.round().clamp(0, 255).to(dtype=batch.dtype).permute(0, 2, 3, 1)
    return list(out.cpu().numpy())


def _pyav_frames(
    data: bytes, frame_pts: Sequence[int], clips: Sequence[Sequence[int]], size_px: int,
) -> dict[int, np.ndarray]:
    """{frame index: resized frame}. Needed frames are grouped into runs; a run starts with a
    seek to the keyframe before it and decodes forward; a gap of more than _SEEK_GAP_FRAMES
    frames starts a new run (past that, seeking is cheaper than decoding through the gap)."""
    wanted = sorted({int(frame_pts[i]) for clip in clips for i in clip})
    try:
        frames = _decode_runs(data, wanted, _runs(frame_pts, wanted), size_px)
    except (av.error.FFmpegError, ValueError, OSError, IndexError) as err:
        raise DecodeError(f"{type(err).__name__}: {err}") from None
    missing = [p for p in wanted if p not in frames]
    if missing:
        raise DecodeError(
            f"{len(missing)} of {len(wanted)} frames not found (first pts {missing[0]})")
    return {i: frames[int(frame_pts[i])] for clip in clips for i in clip}


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
