"""Seek-based decoding returns exactly the frames a full decode gives, or a clear DecodeError."""

import io

import av
import numpy as np
import pytest
from PIL import Image

from raylab.data.decode import DecodeError, decode_clip, decode_clips, decode_video
from raylab.data.shards import probe_video
from raylab.data.sources.synthetic import SyntheticSpec, write_ucf101


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    root = tmp_path_factory.mktemp("dec")
    write_ucf101(root, SyntheticSpec(directions=("Left",), shapes=("Disc",), num_groups=1,
                                     num_frames=60, seed=5))
    data = next((root / "UCF-101").rglob("*.avi")).read_bytes()
    with av.open(io.BytesIO(data)) as c:
        full = [f.to_image() for f in c.decode(video=0)]
    return data, probe_video(data).frame_pts, full


def _reference(full, indices, size):
    # centre 240x240 of the 320x240 frame, resized like the decoder does
    return np.stack([np.asarray(full[i].resize((size, size), Image.Resampling.BILINEAR,
                                               box=(40, 0, 280, 240))) for i in indices])


@pytest.mark.parametrize("indices", [[0], list(range(25, 35)), [59], [3, 18], [50, 10, 10]])
def test_clip_equals_full_decode(video, indices):
    data, pts, full = video
    clip = decode_clip(data, pts, indices, size_px=64)
    assert clip.shape == (len(indices), 64, 64, 3) and clip.dtype == np.uint8
    assert np.array_equal(clip, _reference(full, indices, 64))


def test_many_clips_in_one_pass_equal_separate_decodes(video):
    data, pts, full = video
    clips = [list(range(s, s + 10)) for s in (0, 7, 45, 50)] + [[2, 40]]
    together = decode_clips(data, pts, clips, size_px=48)
    for clip, got in zip(clips, together):
        assert np.array_equal(got, decode_clip(data, pts, clip, size_px=48))
        assert np.array_equal(got, _reference(full, clip, 48))


def test_bad_requests_raise_decode_error(video):
    data, pts, _ = video
    with pytest.raises(DecodeError, match="out of range"):
        decode_clip(data, pts, [len(pts)], size_px=32)
    with pytest.raises(DecodeError):
        decode_clip(b"this is not a video", pts, [0], size_px=32)
    with pytest.raises(DecodeError, match="not found"):
        decode_clip(data[: len(data) // 3], pts, [len(pts) - 1], size_px=32)


def test_decode_video_gives_every_frame_shorter_side_resized(video):
    data, pts, full = video
    frames = decode_video(data, pts, short_side_px=60)
    assert frames.shape == (60, 60, 80, 3) and frames.dtype == np.uint8  # 320x240 -> 80x60
    for i in (0, 31, 59):
        want = np.asarray(full[i].resize((80, 60), Image.Resampling.BILINEAR))
        assert np.array_equal(frames[i], want)
    with pytest.raises(DecodeError, match="not found"):
        decode_video(data[: len(data) // 3], pts, short_side_px=60)
    with pytest.raises(DecodeError):
        decode_video(b"this is not a video", pts, short_side_px=60)


# --- backends -------------------------------------------------------------------------------

def _h264(fps_pts_ms: list[int] | None, bframes: int = 2) -> bytes:
    """H.264 in Matroska with B-frames (decode order != display order), 24 noisy frames; with
    `fps_pts_ms`, frames are shown at those irregular times (variable frame rate, pts gaps)."""
    from fractions import Fraction

    rng = np.random.default_rng(7)
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        s.options = {"bf": str(bframes), "g": "8", "preset": "ultrafast"}
        if fps_pts_ms is not None:
            s.codec_context.time_base = Fraction(1, 1000)
        for t in range(24):
            frame = av.VideoFrame.from_ndarray(
                (rng.random((64, 96, 3)) * 255).astype(np.uint8), format="rgb24")
            if fps_pts_ms is not None:
                frame.pts, frame.time_base = fps_pts_ms[t], Fraction(1, 1000)
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return buf.getvalue()


VFR_MS = [0, 40, 50, 130, 135, 300, 340, 345, 500, 540, 560, 600, 700, 720, 1000, 1040, 1041,
          1100, 1300, 1330, 1360, 1390, 1500, 1700]
REQUESTS = [[0, 1, 2, 3], [23, 5, 5, 9], [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]]


@pytest.mark.parametrize("data", [_h264(None), _h264(VFR_MS)], ids=["bframes", "vfr"])
def test_pyav_and_torchcodec_cpu_return_identical_frames(data: bytes) -> None:
    from raylab.config import DecodeBackend

    probe = probe_video(data)
    assert probe.num_frames == 24 and probe.codec == "h264"
    with av.open(io.BytesIO(data)) as c:
        display = [f.to_image() for f in c.decode(video=0)]  # display order: the ground truth
    pyav = decode_clips(data, probe.frame_pts, REQUESTS, size_px=48,
                        backend=DecodeBackend.PYAV)
    codec = decode_clips(data, probe.frame_pts, REQUESTS, size_px=48,
                         backend=DecodeBackend.TORCHCODEC_CPU)
    for clip, a, b in zip(REQUESTS, pyav, codec, strict=True):
        np.testing.assert_array_equal(a, b)
        side = 64
        expected = np.stack([np.asarray(display[i].resize(
            (48, 48), Image.Resampling.BILINEAR, box=(16, 0, 16 + side, side))) for i in clip])
        np.testing.assert_array_equal(a, expected)


def test_backend_choice_is_guarded_on_a_cpu_machine() -> None:
    import torch

    from raylab.config import ConfigError, DecodeBackend
    from raylab.data.decode import resolve_backend

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: AUTO picks it")
    assert resolve_backend(DecodeBackend.AUTO) is DecodeBackend.PYAV
    assert resolve_backend("torchcodec_cpu") is DecodeBackend.TORCHCODEC_CPU
    with pytest.raises(ConfigError, match="torchcodec_cuda needs a CUDA GPU"):
        resolve_backend(DecodeBackend.TORCHCODEC_CUDA)


def test_torchcodec_refuses_when_it_numbers_frames_differently() -> None:
    from raylab.config import DecodeBackend

    data = _h264(None)
    pts = probe_video(data).frame_pts
    with pytest.raises(DecodeError, match="torchcodec counts 24 frames, ingest 23"):
        decode_clips(data, pts[:23], [[0, 1]], size_px=16, backend=DecodeBackend.TORCHCODEC_CPU)
