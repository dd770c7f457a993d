"""Clip planning: which frames of a video make each clip. Pure functions, no decoding.

A training clip's start is drawn from a generator seeded by (seed, epoch, video_id, clip_index),
so any worker, restart or machine plans the same clips for the same epoch. Evaluation clips are
spaced uniformly over the video. Videos shorter than a clip repeat their last frame.
"""

from __future__ import annotations

import zlib

import numpy as np


def clip_span(num_frames: int, frame_step: int) -> int:
    """Source frames covered by one clip of `num_frames` frames, `frame_step` apart."""
    return (num_frames - 1) * frame_step + 1


def clip_frames(start: int, video_frames: int, num_frames: int, frame_step: int) -> list[int]:
    """Frame indices of the clip starting at `start`, clamped to the video's last frame."""
    last = video_frames - 1
    return [min(start + i * frame_step, last) for i in range(num_frames)]


def plan_train_clips(
    video_id: str, video_frames: int, *, num_frames: int, frame_step: int,
    clips_per_video: int, seed: int, epoch: int,
) -> list[list[int]]:
    """`clips_per_video` random clips of the video for this epoch (same inputs, same clips)."""
    # crc32, not hash(): Python salts str hashes per process, which would break determinism.
    key = [seed, epoch, zlib.crc32(video_id.encode())]
    rng = np.random.default_rng(key)
    room = max(video_frames - clip_span(num_frames, frame_step), 0)
    starts = rng.integers(0, room + 1, size=clips_per_video)
    return [clip_frames(int(s), video_frames, num_frames, frame_step) for s in starts]


def plan_eval_clips(
    video_frames: int, *, num_frames: int, frame_step: int, clips_per_video: int,
) -> list[list[int]]:
    """`clips_per_video` clips whose starts are spaced uniformly from the first to the last."""
    room = max(video_frames - clip_span(num_frames, frame_step), 0)
    starts = np.linspace(0, room, clips_per_video).round().astype(int)
    return [clip_frames(int(s), video_frames, num_frames, frame_step) for s in starts]
