"""The Ray Data pipeline from Parquet shards to decoded clips (the only module importing ray.data).

shard row groups -> plan clips (pure: row, seed, epoch) -> decode only those frames (PyAV, CPU
tasks) -> rows {video_id, label, labels, clip_index, epoch, frames uint8 (T, H, W, 3), decode_ok}.
`labels` is every true label of the clip's video (Sports-1M is multi-label; evaluation counts a hit
for any of them); `label`, the first, is what training's softmax loss uses.
Flow shards take the same road with flow stacks (flow_samples) in place of decoded clips.
The unit of work is one Parquet row group (a few videos), listed epoch-major as (epoch, file,
row group) items, so training streams every remaining epoch as one dataset without stalling at epoch
boundaries, and every row knows the epoch its clips are planned for. (`read_parquet` cannot tag
rows with an epoch; a union of one read_parquet per epoch runs every epoch's reader at once and
holds every epoch's decoded clips in the object store together.)
Augmentation happens on the train worker, not here.
Image datasets (`image_train_dataset`, `image_eval_dataset`) stream the same row groups and emit
rows of the same shape with T = 1: the image id in video_id, its JPEG decoded, converted to RGB
and resized once per row group task.
With decode_on=worker the same rows carry the encoded bytes (video: plus the clip's frame indices
and the video's frame pts) instead of frames, and the train worker decodes them on its own device
(worker_decode.py): NVDEC/nvJPEG on a GPU, with no decoded pixels in the object store.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.fs
import pyarrow.parquet as pq
import ray.data
from ray.data.collate_fn import NumpyBatchCollateFn

from raylab.config import DecodeBackend, DecodeSite, TemporalConfig
from raylab.data import columns as C
from raylab.data import flow_samples
from raylab.data.clips import plan_eval_clips, plan_train_clips
from raylab.data.decode import DecodeError, decode_clips
from raylab.data.flow_stack import plan_eval_starts, plan_train_starts
from raylab.data.image_decode import decode_image

log = logging.getLogger(__name__)

_READ_COLUMNS = [C.VIDEO_ID, C.LABEL, C.VIDEO_BYTES, C.NUM_FRAMES, C.FRAME_PTS]
# Read where a shard has them; a shard without labels is single-label and every row gets
# (label,), one without segments holds whole videos.
_OPTIONAL_COLUMNS = [C.LABELS, C.SEGMENT]


@dataclass(frozen=True)
class ClipRequest:
    """What the model needs from each clip; the train layer fills it from the model table."""

    num_frames: int
    frame_step: int
    size_px: int
    clips_per_video: int
    decode_backend: DecodeBackend = DecodeBackend.AUTO
    """Resolved in each decode task: AUTO is PyAV there (Ray Data tasks hold no GPU)."""
    decode_on: DecodeSite = DecodeSite.PIPELINE
    """WORKER: rows carry the encoded bytes and the clip's frame indices instead of frames
    (data/worker_decode.py decodes them on the train worker)."""


Planner = Callable[[str, int], list[list[int]]]


def train_dataset(
    files: Sequence[str], req: ClipRequest, *, seed: int, epochs: range,
) -> ray.data.Dataset:
    """Random clips for every epoch in `epochs`, epoch after epoch, as one streamed dataset.

    Within an epoch the row groups come in a seeded random order (a different one each epoch)."""
    items = _epoch_items(_groups(files), seed=seed, epochs=epochs)
    plan = functools.partial(
        _train_plan, num_frames=req.num_frames, frame_step=req.frame_step,
        clips_per_video=req.clips_per_video, seed=seed,
    )
    return _decoded(items, plan, req)


def eval_dataset(files: Sequence[str], req: ClipRequest) -> ray.data.Dataset:
    """`req.clips_per_video` uniformly spaced clips of every video."""
    items = _groups(files, epoch=0)
    plan = functools.partial(
        _eval_plan, num_frames=req.num_frames, frame_step=req.frame_step,
        clips_per_video=req.clips_per_video,
    )
    return _decoded(items, plan, req)


def _groups(files: Sequence[str], **tags) -> list[dict]:
    """One item per row group of `files` ({file, row_group} plus `tags`)."""
    return [{"file": f, "row_group": g, **tags} for f, g in row_groups(files)]


def _epoch_items(groups: list[dict], *, seed: int, epochs: range) -> list[dict]:
    """`groups` once per epoch with the epoch added, epoch-major, in a seeded order per epoch."""
    items = []
    for epoch in epochs:
        order = np.random.default_rng([seed, epoch]).permutation(len(groups))
        items += [{**groups[i], "epoch": epoch} for i in order]
    return items


def row_groups(files: Sequence[str]) -> list[tuple[str, int]]:
    """(file, row group index) for every row group of every shard (reads footers only)."""
    out = []
    for path in files:
        fs, inner = pyarrow.fs.FileSystem.from_uri(_uri(path))
        with fs.open_input_file(inner) as f:
            out += [(path, g) for g in range(pq.ParquetFile(f).num_row_groups)]
    return out


def _uri(path: str) -> str:
    return path if "://" in path else f"file://{path}"


def _train_plan(video_id: str, video_frames: int, epoch: int, **kw) -> list[list[int]]:
    return plan_train_clips(video_id, video_frames, epoch=epoch, **kw)


def _eval_plan(video_id: str, video_frames: int, epoch: int, **kw) -> list[list[int]]:
    return plan_eval_clips(video_frames, **kw)


def _decoded(items: list[dict], plan: Planner, req: ClipRequest) -> ray.data.Dataset:
    if req.decode_on == DecodeSite.WORKER:
        rows = functools.partial(_planned_rows, plan=plan)
    else:
        rows = functools.partial(_decode_rows, plan=plan, size_px=req.size_px,
                                 backend=req.decode_backend)
    return _per_row_group(items, _clip_row_groups, rows=rows)


def _per_row_group(items: list[dict], fn: Callable, **fn_kwargs) -> ray.data.Dataset:
    """`fn` over `items` ({file, row_group, epoch, ...}), one item per task and one output
    block per row group: many small tasks spread over the cluster, each holding one row
    group's decoded samples in the object store."""
    ds = ray.data.from_items(items, override_num_blocks=max(len(items), 1))
    return ds.map_batches(fn, fn_kwargs=fn_kwargs, batch_size=1, batch_format="numpy",
                          num_cpus=1)


def _read_row_group(path: str, group: int, columns: list[str],
                    optional: Sequence[str] = ()) -> pa.Table:
    """Row group `group` of the Parquet file at `path` (local or URI): `columns`, plus those of
    `optional` the file has (older schemas lack them)."""
    fs, inner = pyarrow.fs.FileSystem.from_uri(_uri(path))
    with fs.open_input_file(inner) as f:
        shard = pq.ParquetFile(f)
        present = set(shard.schema_arrow.names)
        wanted = list(columns) + [c for c in optional if c in present]
        return shard.read_row_group(group, columns=wanted)


def _clip_row_groups(items: dict[str, np.ndarray], *, rows: Callable) -> Iterator[dict]:
    """Read one row group and turn it into one row per planned clip with `rows` (_decode_rows or
    _planned_rows): one output block per row group."""
    for path, group, epoch in zip(items["file"], items["row_group"], items["epoch"]):
        table = _read_row_group(str(path), int(group), _READ_COLUMNS, optional=_OPTIONAL_COLUMNS)
        yield rows(table.to_pydict(), epoch=int(epoch))


def _decode_rows(
    batch: dict[str, list], plan: Planner, size_px: int, epoch: int, backend: DecodeBackend,
) -> dict:
    """One output row per planned clip; a clip that fails to decode is kept with decode_ok=False
    (zeros) so the worker can skip and count it instead of the whole task failing."""
    plans = _plans(batch, plan, epoch)
    frames, ok = [], []
    for i, (video_id, clips) in enumerate(zip(batch[C.VIDEO_ID], plans, strict=True)):
        try:
            frames += decode_clips(batch[C.VIDEO_BYTES][i], batch[C.FRAME_PTS][i], clips,
                                   size_px=size_px, backend=backend)
            ok += [True] * len(clips)
        except DecodeError as err:
            log.warning("decode failed for %s: %s", video_id, err)
            frames += [np.zeros((len(c), size_px, size_px, 3), np.uint8) for c in clips]
            ok += [False] * len(clips)
    return {**_clip_columns(batch, plans, epoch), C.FRAMES: np.stack(frames),
            C.DECODE_OK: np.asarray(ok, dtype=bool)}


def _planned_rows(batch: dict[str, list], plan: Planner, epoch: int) -> dict:
    """One row per planned clip with its video's encoded bytes, frame pts and frame indices.
    A video's bytes are repeated for each of its clips: one clip per row keeps batch sizes in
    clips, as the decoded rows have them."""
    plans = _plans(batch, plan, epoch)
    per_clip = [(i, clip) for i, clips in enumerate(plans) for clip in clips]
    return {
        **_clip_columns(batch, plans, epoch),
        C.VIDEO_BYTES: _ragged([batch[C.VIDEO_BYTES][i] for i, _ in per_clip]),
        C.FRAME_PTS: _ragged([np.asarray(batch[C.FRAME_PTS][i], dtype=np.int64)
                              for i, _ in per_clip]),
        C.FRAME_INDICES: _ragged([np.asarray(clip, dtype=np.int64) for _, clip in per_clip]),
        C.DECODE_OK: np.ones(len(per_clip), dtype=bool),  # the worker clears what fails
    }


def _plans(batch: dict[str, list], plan: Planner, epoch: int) -> list[list[list[int]]]:
    """The planned clips (frame index lists) of every video of the batch. A row's clips are
    seeded by its video id, plus the segment number for segments 1 and up, so the segments of
    one long video (which share its id) do not all draw the same offsets."""
    segments = batch.get(C.SEGMENT) or [0] * len(batch[C.VIDEO_ID])
    return [plan(f"{video_id}#{segment}" if segment else str(video_id), int(frames), epoch)
            for video_id, segment, frames in zip(batch[C.VIDEO_ID], segments,
                                                 batch[C.NUM_FRAMES], strict=True)]


def _clip_columns(batch: dict[str, list], plans: list[list[list[int]]], epoch: int) -> dict:
    """What every clip row carries, decoded or not: its video's id and labels, which clip of the
    video it is, its first frame and the epoch it was planned for."""
    label_sets = batch.get(C.LABELS) or [[label] for label in batch[C.LABEL]]
    per_clip = [(i, k, clip) for i, clips in enumerate(plans) for k, clip in enumerate(clips)]
    return {
        C.VIDEO_ID: np.asarray([str(batch[C.VIDEO_ID][i]) for i, _, _ in per_clip],
                               dtype=object),
        C.LABEL: np.asarray([int(batch[C.LABEL][i]) for i, _, _ in per_clip], dtype=np.int64),
        C.LABELS: _ragged([np.asarray(label_sets[i], dtype=np.int64) for i, _, _ in per_clip]),
        C.CLIP_INDEX: np.asarray([k for _, k, _ in per_clip], dtype=np.int64),
        C.FRAME_INDEX: np.asarray([clip[0] for _, _, clip in per_clip], dtype=np.int64),
        C.EPOCH: np.full(len(per_clip), epoch, dtype=np.int64),
    }


def _ragged(arrays: list) -> np.ndarray:
    """An object array of 1-D arrays or of bytes (np.asarray would make a 2-D array, or fail,
    from rows of equal or unequal length, and would store bytes at a fixed width, dropping
    trailing zero bytes); Ray Data stores it as a variable-shaped tensor or binary column."""
    out = np.empty(len(arrays), dtype=object)
    out[:] = arrays
    return out


@dataclass(frozen=True)
class StackRequest:
    """What the temporal stream needs from each flow video (see flow_stack, flow_samples)."""

    stack: TemporalConfig
    size_px: int
    """Stacks are the centre square of the fields resized to size_px (vectors scaled too)."""
    stacks_per_video: int


@dataclass(frozen=True)
class FlowSource:
    """One dataset's flow shards in a (possibly multi-task) temporal-stream run."""

    files: tuple[str, ...]
    bound: float
    """The shards' quantisation bound in px (their manifest's "bound")."""
    label_offset: int = 0
    """Added to every label: multi-task runs use one joint label space, dataset k's classes
    after those of datasets 0..k-1 (models/two_stream.py reads a sample's dataset off it)."""


def flow_train_dataset(
    sources: Sequence[FlowSource], req: StackRequest, *, seed: int, epochs: range,
) -> ray.data.Dataset:
    """`req.stacks_per_video` flow stacks per video, each at a random start seeded by (seed,
    epoch, video id), for every epoch in `epochs` (epoch-major, like train_dataset).

    With several sources, each epoch is one pass over all of them with their row groups shuffled
    together, so batches mix the datasets and every epoch ends on both at once (a union of
    per-dataset streams would run the smaller dataset dry first and let the epochs drift)."""
    plan = functools.partial(_train_starts, cfg=req.stack, count=req.stacks_per_video,
                             seed=seed)
    return _stacked(_epoch_items(_source_groups(sources), seed=seed, epochs=epochs), plan, req)


def flow_eval_dataset(sources: Sequence[FlowSource], req: StackRequest) -> ray.data.Dataset:
    """`req.stacks_per_video` stacks per video at equally spaced starts (the paper: 25), of
    every source (labels in the joint space; the worker splits the scores per dataset)."""
    items = [{**g, "epoch": 0} for g in _source_groups(sources)]
    plan = functools.partial(_eval_starts, cfg=req.stack, count=req.stacks_per_video)
    return _stacked(items, plan, req)


def _source_groups(sources: Sequence[FlowSource]) -> list[dict]:
    return [g for s in sources
            for g in _groups(s.files, bound=s.bound, label_offset=s.label_offset)]


def _train_starts(video_id: str, num_flows: int, epoch: int, *, cfg: TemporalConfig, count: int,
                  seed: int) -> list[int]:
    return plan_train_starts(video_id, num_flows, cfg, count=count, seed=seed, epoch=epoch)


def _eval_starts(video_id: str, num_flows: int, epoch: int, *, cfg: TemporalConfig, count: int
                 ) -> list[int]:
    return plan_eval_starts(num_flows, cfg, count)


def _stacked(items: list[dict], plan, req: StackRequest) -> ray.data.Dataset:
    return _per_row_group(items, _stack_row_groups, plan=plan, req=req)


def _stack_row_groups(items: dict[str, np.ndarray], *, plan, req: StackRequest
                      ) -> Iterator[dict]:
    """Read one flow row group and build its planned stacks (one output block per row group)."""
    for path, group, epoch, bound, offset in zip(items["file"], items["row_group"],
                                                 items["epoch"], items["bound"],
                                                 items["label_offset"]):
        table = _read_row_group(str(path), int(group), flow_samples.READ_COLUMNS)
        rows = flow_samples.stack_rows(table.to_pydict(), plan, req.stack, bound=float(bound),
                                       size_px=req.size_px, epoch=int(epoch))
        rows[C.LABEL] += int(offset)
        yield rows


def map_with_actor(ds: ray.data.Dataset, fn_class: type, *, constructor_kwargs: dict,
                   batch_size: int, num_gpus: float = 0.0) -> ray.data.Dataset:
    """Run a callable class (e.g. a model that scores test views) over `ds` on one actor, so
    its state (weights) loads once; on a GPU when num_gpus > 0."""
    return ds.map_batches(fn_class, fn_constructor_kwargs=constructor_kwargs,
                          batch_size=batch_size, batch_format="numpy",
                          compute=ray.data.ActorPoolStrategy(size=1),
                          num_cpus=0 if num_gpus else 1, num_gpus=num_gpus or None)


_IMAGE_COLUMNS = [C.IMAGE_ID, C.LABEL, C.IMAGE_BYTES]


def image_train_dataset(
    files: Sequence[str], *, size_px: int, copies_per_image: int, seed: int, epochs: range,
    decode_on: DecodeSite = DecodeSite.PIPELINE,
) -> ray.data.Dataset:
    """Every training image `copies_per_image` times per epoch (clip_index 0..copies-1; the
    worker draws each copy's crop, flip and lighting), epoch after epoch, row groups in a seeded
    order per epoch as in `train_dataset`. decode_on=WORKER: rows carry the JPEG bytes."""
    items = _epoch_items(_groups(files), seed=seed, epochs=epochs)
    return _per_row_group(items, _image_groups, size_px=size_px, copies=copies_per_image,
                          decode=decode_on == DecodeSite.PIPELINE)


def image_eval_dataset(files: Sequence[str], *, size_px: int,
                       decode_on: DecodeSite = DecodeSite.PIPELINE) -> ray.data.Dataset:
    """One row per test image: the whole resized square. Its 10 views (Krizhevsky et al. 2012
    sec. 4.1) are cut on the worker by augment.TenCropView, so the object store holds each
    decoded image once, not ten times."""
    return _per_row_group(_groups(files, epoch=0), _image_groups, size_px=size_px, copies=1,
                          decode=decode_on == DecodeSite.PIPELINE)


def _image_groups(items: dict[str, np.ndarray], *, size_px: int, copies: int,
                  decode: bool) -> Iterator[dict]:
    for path, group, epoch in zip(items["file"], items["row_group"], items["epoch"]):
        table = _read_row_group(str(path), int(group), _IMAGE_COLUMNS).to_pydict()
        if decode:
            yield _decode_images(table, size_px, copies, int(epoch))
        else:
            yield _encoded_images(table, copies, int(epoch))


def _encoded_images(batch: dict[str, list], copies: int, epoch: int) -> dict:
    """`copies` rows per image with its JPEG bytes, for the worker to decode."""
    n = len(batch[C.IMAGE_ID]) * copies
    return {
        C.VIDEO_ID: np.repeat(np.asarray(batch[C.IMAGE_ID], dtype=object), copies),
        C.LABEL: np.repeat(np.asarray(batch[C.LABEL], dtype=np.int64), copies),
        C.CLIP_INDEX: np.tile(np.arange(copies, dtype=np.int64), len(batch[C.IMAGE_ID])),
        C.EPOCH: np.full(n, epoch, dtype=np.int64),
        C.IMAGE_BYTES: _ragged([data for data in batch[C.IMAGE_BYTES] for _ in range(copies)]),
        C.DECODE_OK: np.ones(n, dtype=bool),
    }


def _decode_images(batch: dict[str, list], size_px: int, copies: int, epoch: int) -> dict:
    """`copies` rows per image, frames (1, S, S, 3); an image that fails to decode is kept as
    zeros with decode_ok=False, so the worker skips and counts it."""
    ids, labels, frames, ok = [], [], [], []
    for image_id, label, data in zip(batch[C.IMAGE_ID], batch[C.LABEL], batch[C.IMAGE_BYTES]):
        try:
            image, good = decode_image(data, size_px), True
        except DecodeError as err:
            log.warning("decode failed for %s: %s", image_id, err)
            image, good = np.zeros((size_px, size_px, 3), np.uint8), False
        ids += [str(image_id)] * copies
        labels += [int(label)] * copies
        frames += [image[None]] * copies
        ok += [good] * copies
    return {
        C.VIDEO_ID: np.asarray(ids, dtype=object),
        C.LABEL: np.asarray(labels, dtype=np.int64),
        C.CLIP_INDEX: np.tile(np.arange(copies, dtype=np.int64), len(batch[C.IMAGE_ID])),
        C.EPOCH: np.full(len(ids), epoch, dtype=np.int64),
        C.FRAMES: np.stack(frames) if frames else np.zeros((0, 1, size_px, size_px, 3), np.uint8),
        C.DECODE_OK: np.asarray(ok, dtype=bool),
    }


class ClipCollate(NumpyBatchCollateFn):
    """iter_torch_batches collate: tensors for numbers, the video ids stay a list of str, and
    the label sets (video rows only; image and flow rows have none) a list of int tuples."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict:
        # Imported here: this module is also loaded by Ray Data's decode tasks, which need no
        # torch; only the train worker, which calls this, pays for the import.
        import torch

        # np.array copies: Ray hands out read-only views, which torch refuses to wrap.
        out = {
            C.VIDEO_ID: [str(v) for v in batch[C.VIDEO_ID]],
            C.LABEL: torch.from_numpy(np.array(batch[C.LABEL])),
            C.CLIP_INDEX: torch.from_numpy(np.array(batch[C.CLIP_INDEX])),
            C.EPOCH: torch.from_numpy(np.array(batch[C.EPOCH])),
            C.DECODE_OK: torch.from_numpy(np.array(batch[C.DECODE_OK])),
        }
        if C.FRAMES in batch:
            out[C.FRAMES] = torch.from_numpy(np.array(batch[C.FRAMES]))
        # Encoded rows (decode_on=worker): bytes and frame numbers as lists, for worker_decode.
        for key in (C.IMAGE_BYTES, C.VIDEO_BYTES):
            if key in batch:
                out[key] = [bytes(b) for b in batch[key]]
        for key in (C.FRAME_PTS, C.FRAME_INDICES):
            if key in batch:
                out[key] = [np.asarray(row, dtype=np.int64) for row in batch[key]]
        if C.LABELS in batch:
            # A (N, k) array when every row of the batch has k labels, else an object array of
            # 1-D arrays: iterating rows handles both.
            out[C.LABELS] = [tuple(int(x) for x in row) for row in batch[C.LABELS]]
        return out
