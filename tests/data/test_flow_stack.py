"""Flow stacking on known synthetic displacement fields (PAPERS.md 4.2)."""

import numpy as np
import pytest

from raylab.config import StackKind, TemporalConfig
from raylab.data.flow_stack import (
    build_stack,
    fit_field,
    plan_eval_starts,
    plan_train_starts,
    stack_slots,
    start_range,
    subtract_mean,
)

H, W = 12, 16


def _const(dx: float, dy: float) -> np.ndarray:
    field = np.empty((H, W, 2), np.float32)
    field[..., 0], field[..., 1] = dx, dy
    return field


def _ramp_x() -> np.ndarray:
    """x displacement equal to the pixel's column: sampling it elsewhere shows where."""
    field = np.zeros((H, W, 2), np.float32)
    field[..., 0] = np.arange(W, dtype=np.float32)[None, :]
    return field


def test_flow_stacking_interleaves_x_and_y_of_each_field():
    fields = {i: _const(i + 1, -(i + 1)) for i in range(6)}
    cfg = TemporalConfig(stack_length=3, mean_subtraction=False)
    stack = build_stack(fields, stack_slots(2, cfg, 6), cfg)
    assert stack.shape == (6, H, W) and stack.dtype == np.float32
    assert [float(stack[c, 0, 0]) for c in range(6)] == [3, -3, 4, -4, 5, -5]


def test_constant_motion_gives_the_same_stack_either_way_and_zero_after_mean_subtraction():
    fields = {i: _const(1.5, -0.5) for i in range(4)}
    raw = TemporalConfig(stack_length=4, mean_subtraction=False)
    flow = build_stack(fields, stack_slots(0, raw, 4), raw)
    traj_cfg = TemporalConfig(stack_length=4, mean_subtraction=False, stacking=StackKind.TRAJECTORY)
    traj = build_stack(fields, stack_slots(0, traj_cfg, 4), traj_cfg)
    np.testing.assert_allclose(flow, traj)
    assert np.allclose(flow[0::2], 1.5) and np.allclose(flow[1::2], -0.5)
    centred = TemporalConfig(stack_length=4)
    assert np.abs(build_stack(fields, stack_slots(0, centred, 4), centred)).max() < 1e-6


def test_trajectory_stacking_samples_the_next_field_where_the_pixel_moved():
    # Field 0 moves every pixel 2.5 px right; field 1's x displacement equals the column, so
    # flow stacking reads column u and trajectory stacking reads column u + 2.5 (bilinear).
    fields = {0: _const(2.5, 0.0), 1: _ramp_x()}
    flow_cfg = TemporalConfig(stack_length=2, mean_subtraction=False)
    traj_cfg = TemporalConfig(stack_length=2, mean_subtraction=False, stacking=StackKind.TRAJECTORY)
    flow = build_stack(fields, stack_slots(0, flow_cfg, 2), flow_cfg)
    traj = build_stack(fields, stack_slots(0, traj_cfg, 2), traj_cfg)
    np.testing.assert_allclose(traj[:2], flow[:2])  # the first field is never moved
    inside = slice(0, W - 3)
    np.testing.assert_allclose(flow[2, :, inside], np.arange(W - 3)[None, :].repeat(H, 0))
    np.testing.assert_allclose(traj[2, :, inside], flow[2, :, inside] + 2.5, atol=1e-4)
    # a trajectory that leaves the frame reads the border column
    np.testing.assert_allclose(traj[2, :, W - 1], W - 1)


def test_bidirectional_stack_uses_forward_then_negated_preceding_flows():
    fields = {i: _const(i + 1, 0.0) for i in range(10)}
    cfg = TemporalConfig(stack_length=4, bidirectional=True, mean_subtraction=False)
    slots = stack_slots(5, cfg, 10)
    assert [(s.flow_index, s.sign) for s in slots] == [(5, 1), (6, 1), (4, -1), (3, -1)]
    stack = build_stack(fields, slots, cfg)
    assert [float(stack[c, 0, 0]) for c in range(0, 8, 2)] == [6, 7, -5, -4]
    traj = TemporalConfig(stack_length=4, bidirectional=True, mean_subtraction=False,
                      stacking=StackKind.TRAJECTORY)
    np.testing.assert_allclose(build_stack(fields, slots, traj), stack)  # constant fields


def test_start_range_leaves_room_for_the_whole_stack():
    assert start_range(20, TemporalConfig(stack_length=10)) == (0, 10)
    assert start_range(20, TemporalConfig(stack_length=10, bidirectional=True)) == (5, 15)
    # too short: one start in the middle, indices past the end repeat the last flow
    assert start_range(4, TemporalConfig(stack_length=10)) == (2, 2)
    slots = stack_slots(2, TemporalConfig(stack_length=10), 4)
    assert [s.flow_index for s in slots] == [2, 3] + [3] * 8


def test_train_starts_are_seeded_random_and_eval_starts_equally_spaced():
    cfg = TemporalConfig(stack_length=5)
    starts = {s for e in range(30)
              for s in plan_train_starts("v", 40, cfg, count=1, seed=0, epoch=e)}
    assert len(starts) > 5 and min(starts) >= 0 and max(starts) <= 35
    again = plan_train_starts("v", 40, cfg, count=3, seed=0, epoch=3)
    assert again == plan_train_starts("v", 40, cfg, count=3, seed=0, epoch=3)
    assert again != plan_train_starts("w", 40, cfg, count=3, seed=0, epoch=3)
    assert plan_eval_starts(40, cfg, 6) == [0, 7, 14, 21, 28, 35]
    assert plan_eval_starts(40, cfg, 25)[-1] == 35


def test_fit_field_crops_the_centre_square_and_scales_the_vectors():
    field = np.zeros((240, 320, 2), np.float32)
    field[..., 0] = np.arange(320, dtype=np.float32)[None, :]  # x displacement = column
    field[..., 1] = 4.0
    fitted = fit_field(field, 60)
    assert fitted.shape == (60, 60, 2)
    # the centre square spans columns 40..279; shrinking 4x scales vectors by 1/4
    assert fitted[..., 1] == pytest.approx(np.full((60, 60), 1.0))
    assert fitted[0, 0, 0] == pytest.approx((40 + 1.5) / 4, abs=0.01)
    assert fitted[0, -1, 0] == pytest.approx((276 + 1.5) / 4, abs=0.01)
    up = fit_field(_const(1.0, -2.0), 24)  # 12x16 -> 24x24: vectors double
    assert np.allclose(up[..., 0], 2.0) and np.allclose(up[..., 1], -4.0)


def test_subtract_mean_removes_each_fields_mean_vector_only():
    rng = np.random.default_rng(0)
    field = rng.normal(size=(H, W, 2)).astype(np.float32) + np.float32([3.0, -7.0])
    out = subtract_mean(field)
    np.testing.assert_allclose(out.reshape(-1, 2).mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(field - out, np.broadcast_to(field.reshape(-1, 2).mean(0),
                                                            field.shape), atol=1e-5)
