"""Flow shard rows -> stacks with ids, without Ray."""

import functools

import numpy as np
import pytest

from raylab.config import TemporalConfig
from raylab.data import columns as C
from raylab.data.flow_samples import READ_COLUMNS, stack_rows
from raylab.data.flow_shards import read_flow_manifest, read_flow_rows
from raylab.data.flow_stack import plan_eval_starts


def _eval_plan(video_id, num_flows, epoch, *, cfg, count):
    return plan_eval_starts(num_flows, cfg, count)


@pytest.fixture(scope="module")
def rows(tiny_flow_shards):
    manifest = read_flow_manifest(tiny_flow_shards)
    path = tiny_flow_shards / manifest["files"]["test"][0]
    return manifest, read_flow_rows(path, columns=READ_COLUMNS)


def test_stacks_carry_ids_and_show_the_classes_motion(rows):
    manifest, batch = rows
    cfg = TemporalConfig(stack_length=4, mean_subtraction=False)
    plan = functools.partial(_eval_plan, cfg=cfg, count=3)
    out = stack_rows(batch, plan, cfg, bound=manifest["bound"], size_px=16, epoch=0)
    n = len(batch[C.VIDEO_ID])
    assert out[C.FRAMES].shape == (3 * n, 8, 16, 16) and out[C.FRAMES].dtype == np.float16
    assert out[C.DECODE_OK].all()
    assert list(out[C.CLIP_INDEX][:3]) == [0, 1, 2]
    assert list(out[C.FRAME_INDEX][:3]) == plan_eval_starts(int(batch[C.NUM_FLOWS][0]), cfg, 3)
    assert out[C.VIDEO_ID][0] == batch[C.VIDEO_ID][0] == out[C.VIDEO_ID][2]
    for vid, label, stack in zip(out[C.VIDEO_ID], out[C.LABEL], out[C.FRAMES]):
        name = manifest["classes"][label]
        x = stack[0::2].astype(np.float32)
        peak = x.flat[np.abs(x).argmax()]  # the object's motion, resized 32 -> 16 px: 2 -> 1 px
        assert peak == pytest.approx(1.0 if name.endswith("Right") else -1.0, abs=0.1), vid


def test_a_field_that_does_not_decode_gives_zero_stacks_marked_not_ok(rows):
    manifest, batch = rows
    broken = {k: list(v) for k, v in batch.items()}
    broken[C.FLOW_X][0] = [b"not a jpeg"] * len(broken[C.FLOW_X][0])
    cfg = TemporalConfig(stack_length=2)
    plan = functools.partial(_eval_plan, cfg=cfg, count=2)
    out = stack_rows(broken, plan, cfg, bound=manifest["bound"], size_px=16, epoch=0)
    assert list(out[C.DECODE_OK][:2]) == [False, False] and out[C.DECODE_OK][2:].all()
    assert not out[C.FRAMES][:2].any()
