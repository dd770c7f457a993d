"""The CUDA paths, on a machine with a GPU (skipped elsewhere): nvJPEG decoding on the worker,
kornia augmentations, bf16 autocast with channels_last on every model, and RAFT.

These need only torch, torchvision, kornia, PyAV and pyarrow (no Ray), so they also run with
`python -m pytest --noconftest tests/gpu` where Ray is not installed."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from raylab.config import DecodeBackend, ModelConfig, ModelName, OptimConfig, Precision
from raylab.data import columns as C
from raylab.data.augment import CentreClipView, TenCropView, TrainClipAugment
from raylab.data.flow_augment import TrainFlowAugment
from raylab.data.image_decode import decode_image
from raylab.data.optical_flow import FlowEstimator
from raylab.data.shards import probe_video
from raylab.data.worker_decode import ClipDecode, decode_jpegs
from raylab.models.build import StreamInput, build_model, clip_shape, stream_input
from raylab.train.loop import train_epoch
from raylab.train.optim import make_optimizer
from raylab.train.precision import compute_for

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
GPU = torch.device("cuda")
CPU = torch.device("cpu")


def _photo() -> np.ndarray:
    yy, xx = np.mgrid[0:480, 0:640]
    return np.stack([xx * 255 // 640, yy * 255 // 480, (xx + yy) * 255 // 1120],
                    -1).astype(np.uint8)


def _jpeg(pixels: np.ndarray, mode: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_nvjpeg_batches_match_the_cpu_decode(mode):
    blob = _jpeg(_photo(), mode)
    gpu, ok = decode_jpegs([blob, blob[:300], blob], 224, GPU)
    cpu, _ = decode_jpegs([blob], 224, CPU)
    assert gpu.device.type == "cuda" and ok.tolist() == [True, False, True]
    diff = (gpu[0].cpu().int() - cpu[0].int()).abs()
    assert diff.float().mean() < 1.0 and int(diff.max()) <= 8  # IDCTs differ by a level or so
    pil = np.abs(gpu[0].cpu().numpy().astype(int) - decode_image(blob, 224).astype(int))
    assert pil.mean() < 3
    assert int(gpu[1].sum()) == 0


def _mpeg4(frames: np.ndarray) -> bytes:
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return out.getvalue()


def test_worker_decodes_clips_onto_the_gpu_as_on_the_cpu():
    video = np.stack([np.roll(_photo()[:240, :320], 4 * t, axis=1) for t in range(12)])
    data = _mpeg4(video)
    pts = np.asarray(probe_video(data).frame_pts)

    def batch():
        return {C.VIDEO_ID: ["a", "b"], C.DECODE_OK: torch.ones(2, dtype=torch.bool),
                C.VIDEO_BYTES: [data, data[:100]], C.FRAME_PTS: [pts, pts],
                C.FRAME_INDICES: [np.arange(3, 7), np.arange(3, 7)]}
    gpu = ClipDecode(size_px=112, device=GPU, backend=DecodeBackend.PYAV)(batch())
    cpu = ClipDecode(size_px=112, device=CPU, backend=DecodeBackend.PYAV)(batch())
    assert gpu[C.FRAMES].device.type == "cuda" and gpu[C.FRAMES].shape == (2, 4, 112, 112, 3)
    assert gpu[C.DECODE_OK].tolist() == [True, False]
    assert torch.equal(gpu[C.FRAMES].cpu(), cpu[C.FRAMES])


def test_kornia_clip_augment_on_the_gpu_is_one_crop_and_flip_per_clip():
    # Frame t = frame 0 + t everywhere: after any one crop and flip per clip, frame t - frame 0
    # is still t, whatever the crop.
    base = torch.randint(0, 200, (6, 1, 40, 40, 3), dtype=torch.uint8)
    clips = (base + torch.arange(5, dtype=torch.uint8).view(1, 5, 1, 1, 1)).to(GPU)
    out = TrainClipAugment(crop_px=32, flip_p=0.5, pixel_mean=0.0, pixel_scale=1.0).to(GPU)(clips)
    assert out.device.type == "cuda" and out.shape == (6, 3, 5, 32, 32)
    steps = out - out[:, :, :1]
    assert torch.equal(steps, torch.arange(5., device=GPU).view(1, 1, 5, 1, 1).expand_as(steps))


def test_colour_jitter_and_fovea_views_run_on_the_gpu():
    from raylab.config import ColourJitter
    from raylab.data.multires_views import FoveaContextViews

    # Frame t = frame 0 + 1 everywhere: brightness jitter scales both by one factor per clip.
    base = torch.randint(20, 150, (6, 1, 48, 48, 3), dtype=torch.uint8)
    clips = torch.cat([base, base + 1], dim=1).to(GPU)
    jitter = ColourJitter(brightness=0.4, p=1.0)
    augment = TrainClipAugment(crop_px=40, flip_p=0.5, pixel_mean=0.0, pixel_scale=1.0,
                               jitter=jitter).to(GPU)
    out = augment(clips)
    steps = out[:, :, 1] - out[:, :, 0]  # per clip one positive factor, the same everywhere
    assert out.device.type == "cuda"
    assert torch.allclose(steps, steps.mean(dim=(1, 2, 3), keepdim=True), atol=1e-3)
    assert len({round(float(v), 3) for v in steps.mean(dim=(1, 2, 3))}) > 1
    views = FoveaContextViews().to(GPU)(out)
    assert views.shape == (6, 6, 2, 20, 20) and views.device.type == "cuda"


def test_evaluation_views_are_identical_on_gpu_and_cpu():
    clips = torch.randint(0, 256, (3, 4, 40, 40, 3), dtype=torch.uint8)
    for view in (CentreClipView(crop_px=32, pixel_mean=117.0, pixel_scale=64.0),
                 TenCropView(crop_px=32, mean=torch.full((1, 1, 1), 117.0), pixel_scale=64.0)):
        assert torch.equal(view.to(GPU)(clips.to(GPU)).cpu(), view.to(CPU)(clips))


def test_flow_mirror_negates_x_on_the_gpu():
    stacks = torch.randn(8, 4, 40, 40).half().to(GPU)
    flipped = TrainFlowAugment(crop_px=40, flip_p=1.0)(stacks)[:, :, 0]
    assert torch.equal(flipped[:, 0::2], -stacks.float().flip(-1)[:, 0::2])
    assert torch.equal(flipped[:, 1::2], stacks.float().flip(-1)[:, 1::2])


# Each model at a small width and the smallest crop it allows, in bf16 with channels_last.
CROPS = {ModelName.SINGLE_FRAME: 64, ModelName.EARLY_FUSION: 64, ModelName.LATE_FUSION: 64,
         ModelName.SLOW_FUSION: 64, ModelName.MULTIRES: 64, ModelName.ALEXNET: 64,
         ModelName.ZF: 64, ModelName.CNN_M_2048: 64, ModelName.CNN_M_2048_TEMPORAL: 64,
         ModelName.VGG16: 64, ModelName.GOOGLENET: 64}


def _inputs(name: ModelName, crop: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if stream_input(name) is StreamInput.FLOW:
        return torch.randn(8, 4, 1, crop, crop, generator=g)
    if stream_input(name) is StreamInput.FOVEA_CONTEXT:
        return torch.randn(8, 6, 1, crop // 2, crop // 2, generator=g)
    t = clip_shape(name).num_frames
    return torch.randn(8, 3, t, crop, crop, generator=g)


@pytest.mark.parametrize("name", list(CROPS))
def test_every_model_runs_bf16_channels_last_close_to_fp32(name):
    crop = CROPS[name]
    width = 1.0 if name in (ModelName.VGG16, ModelName.GOOGLENET) else 0.25
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name, width_mult=width, dropout=0.0), num_classes=10,
                        crop_px=crop, stack_length=2).to(GPU).eval()
    x = _inputs(name, crop).to(GPU)
    with torch.no_grad():
        reference = model(x).float()
        fast = compute_for(GPU, Precision.BF16, channels_last=True)
        fast.apply_layout_(model)
        with fast.autocast():
            low = model(fast.layout(x)).float()
    assert torch.isfinite(low).all()
    scale = reference.abs().max().clamp(min=1e-3)
    assert float((low - reference).abs().max() / scale) < 0.1


def test_a_bf16_channels_last_loop_learns_on_the_gpu():
    # Class = which half of the frame is bright: learnable in a few dozen steps.
    g = torch.Generator().manual_seed(0)

    def batch():
        labels = torch.randint(0, 2, (16,), generator=g)
        frames = torch.randint(0, 60, (16, 1, 72, 72, 3), generator=g, dtype=torch.uint8)
        for i, y in enumerate(labels.tolist()):
            frames[i, :, :, 36 * y:36 * y + 36] += 150
        return {"video_id": [str(i) for i in range(16)], "label": labels, "frames": frames,
                "decode_ok": torch.ones(16, dtype=torch.bool)}

    torch.manual_seed(0)
    model = build_model(ModelConfig(name=ModelName.CNN_M_2048, width_mult=0.25), num_classes=2,
                        crop_px=64).to(GPU)
    compute = compute_for(GPU, Precision.BF16, channels_last=True)
    compute.apply_layout_(model)
    augment = TrainClipAugment(crop_px=64, flip_p=0.0, pixel_mean=117.0, pixel_scale=64.0).to(GPU)
    opt = make_optimizer(model, OptimConfig(lr=0.01))
    stats = [train_epoch(model, [batch() for _ in range(20)], augment=augment, optimizer=opt,
                         device=GPU, num_steps=20, lr_at_step=lambda _: 0.01, first_step=0,
                         compute=compute) for _ in range(3)]
    assert stats[-1].loss < stats[0].loss and stats[-1].clip_acc > 0.9


def test_raft_runs_on_the_gpu_from_a_local_weights_file(tmp_path):
    from torchvision.models.optical_flow import raft_small

    path = tmp_path / "raft_small.pt"
    torch.save(raft_small(weights=None).state_dict(), path)  # no weights can be downloaded
    frames = np.stack([np.roll(_photo()[:256, :320], 3 * t, axis=1) for t in range(4)])
    estimator = FlowEstimator("raft_small", raft_weights=str(path))
    flows = estimator.video(frames)
    assert flows.shape == (3, 256, 320, 2) and flows.dtype == np.float32
    assert np.isfinite(flows).all()
    # Batched pairs and single pairs give the same fields up to the GPU's batch-dependent
    # kernels (TF32 convolutions, 12 refinement steps: about 0.05 px on 16 px vectors).
    assert np.allclose(flows[1], estimator(frames[1], frames[2]), rtol=1e-2, atol=0.1)
