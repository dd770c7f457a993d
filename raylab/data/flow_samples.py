"""Flow shard rows -> temporal-stream samples with their ids. Pure: the pipeline maps it over
row groups, tests call it directly.

Per video: plan the stack starts (flow_stack), decode each needed JPEG field once (however many
stacks share it), bring it to the run's square size with its vectors scaled (fit_field), build
every stack. A video whose fields do not decode yields zero stacks with decode_ok False, so the
worker skips and counts them instead of the task failing. Stacks travel as float16: quantised
flow has steps of 2 * bound / 255 px (0.16 px at bound 20), far coarser than float16's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from raylab.config import TemporalConfig
from raylab.data import columns as C
from raylab.data.flow_shards import dequantise
from raylab.data.flow_stack import build_stack, fit_field, stack_slots

log = logging.getLogger(__name__)

READ_COLUMNS = [C.VIDEO_ID, C.LABEL, C.NUM_FLOWS, C.FLOW_X, C.FLOW_Y]
StartPlanner = Callable[[str, int, int], list[int]]
"""(video_id, num_flows, epoch) -> stack start frames."""


def stack_rows(batch: dict[str, list], plan: StartPlanner, cfg: TemporalConfig, *, bound: float,
               size_px: int, epoch: int) -> dict[str, np.ndarray]:
    """One output row per planned stack of every video in `batch` (flow shard columns)."""
    out: dict[str, list] = {k: [] for k in (C.VIDEO_ID, C.LABEL, C.CLIP_INDEX, C.FRAME_INDEX,
                                            C.EPOCH, C.FRAMES, C.DECODE_OK)}
    for i, video_id in enumerate(batch[C.VIDEO_ID]):
        num_flows = int(batch[C.NUM_FLOWS][i])
        starts = plan(str(video_id), num_flows, epoch)
        slots = [stack_slots(t, cfg, num_flows) for t in starts]
        try:
            needed = sorted({s.flow_index for per_stack in slots for s in per_stack})
            fields = {j: fit_field(dequantise(batch[C.FLOW_X][i][j], batch[C.FLOW_Y][i][j],
                                              bound), size_px) for j in needed}
            stacks = [build_stack(fields, s, cfg) for s in slots]
            ok = True
        except (ValueError, IndexError) as err:
            log.warning("flow of %s does not decode: %s", video_id, err)
            stacks = [np.zeros((2 * cfg.stack_length, size_px, size_px), np.float32)
                      for _ in starts]
            ok = False
        for k, (start, stack) in enumerate(zip(starts, stacks, strict=True)):
            out[C.VIDEO_ID].append(str(video_id))
            out[C.LABEL].append(int(batch[C.LABEL][i]))
            out[C.CLIP_INDEX].append(k)
            out[C.FRAME_INDEX].append(start)
            out[C.EPOCH].append(epoch)
            out[C.FRAMES].append(stack.astype(np.float16))
            out[C.DECODE_OK].append(ok)
    frames = (np.stack(out[C.FRAMES]) if out[C.FRAMES]
              else np.zeros((0, 2 * cfg.stack_length, size_px, size_px), np.float16))
    return {
        C.VIDEO_ID: np.asarray(out[C.VIDEO_ID], dtype=object),
        C.LABEL: np.asarray(out[C.LABEL], dtype=np.int64),
        C.CLIP_INDEX: np.asarray(out[C.CLIP_INDEX], dtype=np.int64),
        C.FRAME_INDEX: np.asarray(out[C.FRAME_INDEX], dtype=np.int64),
        C.EPOCH: np.asarray(out[C.EPOCH], dtype=np.int64),
        C.FRAMES: frames,
        C.DECODE_OK: np.asarray(out[C.DECODE_OK], dtype=bool),
    }
