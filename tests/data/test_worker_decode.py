"""Decoding on the train worker (data.decode_on=worker): the same pixels as the pipeline's
decode, failures kept as decode_ok=False, on whichever device the worker has (CPU here)."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from raylab.config import ConfigError, DataConfig, DecodeBackend, DecodeSite
from raylab.data import columns as C
from raylab.data.clips import plan_eval_clips
from raylab.data.image_decode import decode_image
from raylab.data.pipeline import ClipCollate, _decode_rows, _planned_rows, _read_row_group
from raylab.data.shards import read_manifest
from raylab.data.worker_decode import ClipDecode, ImageDecode, decode_jpegs


def _jpeg(pixels: np.ndarray, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A smooth 300x400 RGB picture (resampling differences stay small on smooth content)."""
    yy, xx = np.mgrid[0:300, 0:400]
    return np.stack([xx * 255 // 400, yy * 255 // 300, (xx + yy) * 255 // 700],
                    -1).astype(np.uint8)


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_jpegs_decode_like_the_pipeline(photo, mode):
    blob = _jpeg(photo, mode)
    frames, ok = decode_jpegs([blob, blob], 64, torch.device("cpu"))
    assert frames.shape == (2, 64, 64, 3) and frames.dtype == torch.uint8
    assert ok.tolist() == [True, True]
    diff = np.abs(frames[0].numpy().astype(int) - decode_image(blob, 64).astype(int))
    # PIL decodes large JPEGs at a reduced DCT scale before resizing: close, not identical.
    assert diff.mean() < 3 and np.percentile(diff, 99) <= 8


def test_a_bad_jpeg_is_flagged_and_the_rest_of_the_batch_kept(photo):
    good = _jpeg(photo)
    frames, ok = decode_jpegs([good, good[: len(good) // 3], b"not a jpeg", good], 32,
                              torch.device("cpu"))
    assert ok.tolist() == [True, False, False, True]
    assert int(frames[1].sum()) == int(frames[2].sum()) == 0
    assert torch.equal(frames[0], frames[3])


def test_image_batches_decode_to_one_frame_clips_and_keep_earlier_failures(photo):
    good = _jpeg(photo)
    batch = {C.VIDEO_ID: ["a", "b", "c"], C.IMAGE_BYTES: [good, b"not a jpeg", good],
             C.DECODE_OK: torch.tensor([True, True, False])}
    out = ImageDecode(size_px=32, device=torch.device("cpu"))(batch)
    assert C.IMAGE_BYTES not in out and out[C.FRAMES].shape == (3, 1, 32, 32, 3)
    assert out[C.DECODE_OK].tolist() == [True, False, False]


def _encoded_and_decoded(shards, size_px=32, clips_per_video=3):
    rel = read_manifest(shards)["files"]["test"][0]
    table = _read_row_group(str(shards / rel), 0, [
        C.VIDEO_ID, C.LABEL, C.VIDEO_BYTES, C.NUM_FRAMES, C.FRAME_PTS]).to_pydict()
    def plan(video_id, frames, epoch):
        return plan_eval_clips(frames, num_frames=4, frame_step=2,
                               clips_per_video=clips_per_video)
    return (_planned_rows(table, plan, 0),
            _decode_rows(table, plan, size_px, 0, DecodeBackend.PYAV))


def test_worker_decodes_planned_clips_to_the_pipelines_frames(tiny_shards):
    encoded, decoded = _encoded_and_decoded(tiny_shards)
    batch = ClipCollate()(encoded)
    assert C.FRAMES not in batch and len(batch[C.VIDEO_BYTES]) == len(decoded[C.VIDEO_ID])
    out = ClipDecode(size_px=32, device=torch.device("cpu"), backend=DecodeBackend.PYAV)(batch)
    assert C.VIDEO_BYTES not in out
    assert out[C.VIDEO_ID] == list(decoded[C.VIDEO_ID])
    assert out[C.CLIP_INDEX].tolist() == decoded[C.CLIP_INDEX].tolist()
    assert np.array_equal(out[C.FRAMES].numpy(), decoded[C.FRAMES])
    assert out[C.DECODE_OK].all()


def test_worker_flags_a_clip_whose_bytes_do_not_decode(tiny_shards):
    encoded, _ = _encoded_and_decoded(tiny_shards, clips_per_video=1)
    encoded[C.VIDEO_BYTES][1] = encoded[C.VIDEO_BYTES][1][:200]  # truncated file
    out = ClipDecode(size_px=32, device=torch.device("cpu"),
                       backend=DecodeBackend.PYAV)(ClipCollate()(encoded))
    assert out[C.DECODE_OK].tolist() == [i != 1 for i in range(len(out[C.VIDEO_ID]))]
    assert int(out[C.FRAMES][1].sum()) == 0 and int(out[C.FRAMES][0].sum()) > 0


def test_gpu_decoding_is_refused_where_pipeline_tasks_decode():
    with pytest.raises(ConfigError, match="data.decode_backend: expected torchcodec_cuda only "
                                          "with data.decode_on=worker"):
        DataConfig(decode_backend=DecodeBackend.TORCHCODEC_CUDA)
    DataConfig(decode_backend=DecodeBackend.TORCHCODEC_CUDA, decode_on=DecodeSite.WORKER)


def test_segments_of_one_video_draw_their_own_training_clips():
    from raylab.data.clips import plan_train_clips

    def plan(key, frames, epoch):
        return plan_train_clips(key, frames, num_frames=4, frame_step=1, clips_per_video=1,
                                seed=0, epoch=epoch)
    batch = {C.VIDEO_ID: ["yt1"] * 3, C.SEGMENT: [0, 1, 2], C.LABEL: [5] * 3,
             C.VIDEO_BYTES: [b"x"] * 3, C.NUM_FRAMES: [200] * 3, C.FRAME_PTS: [range(200)] * 3}
    rows = _planned_rows(batch, plan, epoch=0)
    starts = [int(i[0]) for i in rows[C.FRAME_INDICES]]
    assert len(set(starts)) == 3  # one shared seed would give three equal offsets
    assert starts[0] == plan("yt1", 200, 0)[0][0]  # whole videos (segment 0) keep their plan
    assert list(rows[C.VIDEO_ID]) == ["yt1"] * 3  # evaluation still pools them by video
