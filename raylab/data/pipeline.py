"""The Ray Data pipeline from Parquet shards to decoded clips (the only module importing ray.data).

read_parquet -> plan clips (pure: row, seed, epoch) -> decode only those frames (PyAV, CPU tasks)
-> rows {video_id, label, clip_index, frames uint8 (T, H, W, 3), decode_ok}. Training streams every
remaining epoch as one dataset, epoch after epoch, so workers never stall at an epoch boundary;
the worker cuts it into epochs of a fixed number of steps. Augmentation happens on the worker.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import ray.data
from ray.data.collate_fn import NumpyBatchCollateFn

from raylab.data import columns as C
from raylab.data.clips import plan_eval_clips, plan_train_clips
from raylab.data.decode import DecodeError, decode_clip

log = logging.getLogger(__name__)

_READ_COLUMNS = [C.VIDEO_ID, C.LABEL, C.VIDEO_BYTES, C.NUM_FRAMES, C.FRAME_PTS]
# Videos per decode task: small blocks keep the stream smooth and the object store small.
_VIDEOS_PER_TASK = 4


@dataclass(frozen=True)
class ClipRequest:
    """What the model needs from each clip; the train layer fills it from the model table."""

    num_frames: int
    frame_step: int
    size_px: int
    clips_per_video: int


Planner = Callable[[str, int], list[list[int]]]


def train_dataset(
    files: Sequence[str], req: ClipRequest, *, seed: int, epochs: range, decode_cpus: int,
) -> ray.data.Dataset:
    """Random clips for every epoch in `epochs`, epoch-major, as one lazily streamed dataset."""
    parts = []
    for epoch in epochs:
        plan = functools.partial(
            _train_plan, num_frames=req.num_frames, frame_step=req.frame_step,
            clips_per_video=req.clips_per_video, seed=seed, epoch=epoch,
        )
        parts.append(_decoded(files, plan, req.size_px))
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]


def eval_dataset(
    files: Sequence[str], req: ClipRequest, *, decode_cpus: int,
) -> ray.data.Dataset:
    """`req.clips_per_video` uniformly spaced clips of every video."""
    plan = functools.partial(
        _eval_plan, num_frames=req.num_frames, frame_step=req.frame_step,
        clips_per_video=req.clips_per_video,
    )
    return _decoded(files, plan, req.size_px)


def _train_plan(video_id: str, video_frames: int, **kw) -> list[list[int]]:
    return plan_train_clips(video_id, video_frames, **kw)


def _eval_plan(video_id: str, video_frames: int, **kw) -> list[list[int]]:
    return plan_eval_clips(video_frames, **kw)


def _decoded(files: Sequence[str], plan: Planner, size_px: int):
    ds = ray.data.read_parquet(list(files), columns=_READ_COLUMNS)
    return ds.map_batches(
        _decode_batch,
        fn_kwargs={"plan": plan, "size_px": size_px},
        batch_size=_VIDEOS_PER_TASK,
        batch_format="numpy",
        num_cpus=1,
    )


def _decode_batch(batch: dict[str, np.ndarray], *, plan: Planner, size_px: int) -> dict:
    """One output row per planned clip; a clip that fails to decode is kept with decode_ok=False
    (zeros) so the worker can skip and count it instead of the whole task failing."""
    out: dict[str, list] = {k: [] for k in (C.VIDEO_ID, C.LABEL, C.CLIP_INDEX, C.FRAMES, C.DECODE_OK)}
    for i, video_id in enumerate(batch[C.VIDEO_ID]):
        pts = batch[C.FRAME_PTS][i]
        for k, indices in enumerate(plan(str(video_id), int(batch[C.NUM_FRAMES][i]))):
            try:
                frames, ok = decode_clip(batch[C.VIDEO_BYTES][i], pts, indices, size_px=size_px), True
            except DecodeError as err:
                log.warning("decode failed for %s clip %d: %s", video_id, k, err)
                frames, ok = np.zeros((len(indices), size_px, size_px, 3), np.uint8), False
            out[C.VIDEO_ID].append(str(video_id))
            out[C.LABEL].append(int(batch[C.LABEL][i]))
            out[C.CLIP_INDEX].append(k)
            out[C.FRAMES].append(frames)
            out[C.DECODE_OK].append(ok)
    return {
        C.VIDEO_ID: np.asarray(out[C.VIDEO_ID], dtype=object),
        C.LABEL: np.asarray(out[C.LABEL], dtype=np.int64),
        C.CLIP_INDEX: np.asarray(out[C.CLIP_INDEX], dtype=np.int64),
        C.FRAMES: np.stack(out[C.FRAMES]),
        C.DECODE_OK: np.asarray(out[C.DECODE_OK], dtype=bool),
    }


class ClipCollate(NumpyBatchCollateFn):
    """iter_torch_batches collate: tensors for numbers, the video ids stay a list of str."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict:
        import torch

        # np.array copies: Ray hands out read-only views, which torch refuses to wrap.
        return {
            C.VIDEO_ID: [str(v) for v in batch[C.VIDEO_ID]],
            C.LABEL: torch.from_numpy(np.array(batch[C.LABEL])),
            C.CLIP_INDEX: torch.from_numpy(np.array(batch[C.CLIP_INDEX])),
            C.FRAMES: torch.from_numpy(np.array(batch[C.FRAMES])),
            C.DECODE_OK: torch.from_numpy(np.array(batch[C.DECODE_OK])),
        }
