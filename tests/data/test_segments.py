"""Keyframe-aligned segments cut without re-encoding, and the child-process isolation ingest
runs them in (no Ray needed)."""

from __future__ import annotations

import io
import os

import av
import numpy as np
import pytest

from raylab.data.isolate import CRASHED, IsolatedPool
from raylab.data.segments import cut_segments
from raylab.data.shards import BadVideo, probe_video


def _h264(num_frames: int, gop: int) -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.options = {"bf": "2", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0",
                     "preset": "ultrafast"}
        for _ in range(num_frames):
            frame = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return buf.getvalue()


def _packets(data: bytes) -> list[bytes]:
    with av.open(io.BytesIO(data)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


def test_segments_start_at_keyframes_and_hold_every_packet_once() -> None:
    data = _h264(110, gop=25)  # keyframes at 0, 1, 2, 3, 4 s; 4.4 s long
    pieces = cut_segments(data, 1.0)
    probes = [probe_video(p) for p in pieces]
    # 1 s segments cut at keyframes; the 0.4 s tail is too short alone and joins the last one.
    assert [p.num_frames for p in probes] == [25, 25, 25, 35]
    for piece in pieces:
        with av.open(io.BytesIO(piece)) as c:
            assert next(c.demux(video=0)).is_keyframe
    # Remuxed, not re-encoded: the compressed packets are the source's, in order.
    assert [pkt for piece in pieces for pkt in _packets(piece)] == _packets(data)


def test_segments_are_at_least_as_long_as_asked_except_the_last() -> None:
    pieces = cut_segments(_h264(110, gop=25), 1.5)  # next keyframe after 1.5 s is at 2 s
    assert [probe_video(p).num_frames for p in pieces] == [50, 60]


def test_no_video_stream_is_a_bad_video() -> None:
    with pytest.raises(BadVideo, match="cannot cut segments|no video stream"):
        cut_segments(b"not a video at all", 1.0)


def _abort_on_two(n: int) -> int:
    if n == 2:
        os.abort()  # what a segfaulting decoder does: the process dies, nothing to catch
    return n * 10


def test_isolated_pool_turns_a_dead_child_into_crashed() -> None:
    with IsolatedPool(workers=1) as pool:
        assert pool.map(_abort_on_two, [1, 2, 3]) == [10, CRASHED, 30]
        assert pool.map(_abort_on_two, [4]) == [40]  # a fresh child carries on
