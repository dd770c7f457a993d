"""Tests for every `MODELS` entry: shapes, feature names, pinned parameter counts, paper numbers.

Parameter counts are pinned in param_counts.json beside this file (built on the meta device, so
no weights are allocated); after an intended architecture change regenerate it with
`RAYLAB_WRITE_PARAM_COUNTS=1 python -m pytest tests/models -k param_counts` and commit the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torchvision
from torch import Tensor, nn

from raylab.config import ModelConfig, ModelName
from raylab.models import alexnet as alexnet_module
from raylab.models import cnn_m as cnn_m_module
from raylab.models import torchvision_nets
from raylab.models import zf as zf_module
from raylab.models.alexnet import LRN_BETA, alexnet, alexnet_lrn
from raylab.models.build import MODELS, ClipShape, build_model, clip_shape
from raylab.models.cnn_m import cnn_m_2048, cnn_m_2048_temporal
from raylab.models.fusion import early_fusion, late_fusion, single_frame
from raylab.models.layers import LRN_ALPHA
from raylab.models.multires import VIEW_CHANNELS, context_only, fovea_only, multires_single_frame
from raylab.models.torchvision_nets import googlenet, vgg16
from raylab.models.zf import renormalise_filters_, zf

PARAM_COUNTS = Path(__file__).with_name("param_counts.json")
M = ModelName
KARPATHY = (M.SINGLE_FRAME, M.SLOW_FUSION, M.EARLY_FUSION, M.LATE_FUSION, M.MULTIRES)
IMAGENET = (M.ALEXNET, M.ZF, M.CNN_M_2048, M.CNN_M_2048_TEMPORAL)
TORCHVISION = (M.VGG16, M.GOOGLENET)
# (num_classes, crop_px, width_mult) settings whose parameter counts are pinned: the paper's
# setting (Sports-1M 487 classes at 170 px; ImageNet 1000 at 224; UCF-101 for the flow net)
# and a small one.
PINNED: dict[ModelName, tuple[tuple[int, int, float], ...]] = {
    **{m: ((487, 170, 1.0), (8, 64, 0.125)) for m in KARPATHY},
    **{m: ((1000, 224, 1.0), (8, 224, 0.125)) for m in (M.ALEXNET, M.ZF, M.CNN_M_2048)},
    M.CNN_M_2048_TEMPORAL: ((101, 224, 1.0), (8, 224, 0.125)),
    **{m: ((1000, 224, 1.0), (8, 64, 1.0)) for m in TORCHVISION},
}
# (crop_px, width_mult) for the quick shape tests: small but valid for each net.
SHAPE_SETTING = {
    **{m: (64, 0.125) for m in KARPATHY},
    **{m: (224, 0.125) for m in IMAGENET},
    **{m: (64, 1.0) for m in TORCHVISION},
}
CONV_FC = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]
FEATURE_KEYS = {
    **{m: CONV_FC for m in (*KARPATHY, *IMAGENET, M.VGG16)},
    M.MULTIRES: [f"{s}_conv{i}" for s in ("fovea", "context") for i in range(1, 6)]
    + ["fc6", "fc7"],
    M.GOOGLENET: ["conv1", "conv2", "inception3", "inception4", "inception5", "pool"],
}
# 2L stacked flow fields (L = 10); the fovea and context views' RGB; the rest are RGB.
IN_CHANNELS = {M.CNN_M_2048_TEMPORAL: 20, M.MULTIRES: 6}
HALF_SIDE = {M.MULTIRES}  # views of half the crop's side (PAPERS.md 3.4)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _meta_count(name: ModelName, num_classes: int, crop_px: int, width_mult: float) -> int:
    with torch.device("meta"):
        return _count(MODELS[name].build(num_classes=num_classes, crop_px=crop_px,
                                         width_mult=width_mult))


def _clip(name: ModelName, *, batch: int, crop_px: int) -> Tensor:
    channels = IN_CHANNELS.get(name, 3)
    side = crop_px // 2 if name in HALF_SIDE else crop_px
    return torch.randn(batch, channels, clip_shape(name).num_frames, side, side)


def _logits_from(model: nn.Module, feats: dict[str, Tensor]) -> Tensor:
    if isinstance(model, torchvision_nets.StagedNet):
        return model.head(list(feats.values())[-1])
    return model.classifier(feats["fc7"])


def test_every_entry_has_test_settings() -> None:
    assert set(PINNED) == set(SHAPE_SETTING) == set(FEATURE_KEYS) == set(MODELS)
    assert len({entry.paper for entry in MODELS.values()}) == len(MODELS)


@pytest.mark.parametrize("name", list(MODELS))
def test_logits_and_features(name: ModelName) -> None:
    crop_px, width_mult = SHAPE_SETTING[name]
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name, width_mult=width_mult, dropout=0.0),
                        num_classes=5, crop_px=crop_px).eval()
    x = _clip(name, batch=2, crop_px=crop_px)
    with torch.no_grad():
        logits, feats = model(x), model.features(x)
    assert logits.shape == (2, 5)
    assert list(feats) == FEATURE_KEYS[name]
    assert all(f.shape[0] == 2 for f in feats.values())
    torch.testing.assert_close(logits, _logits_from(model, feats))


def test_clip_shapes() -> None:
    assert clip_shape(M.EARLY_FUSION) == ClipShape(num_frames=10, frame_step=1)
    assert clip_shape(M.LATE_FUSION) == ClipShape(num_frames=2, frame_step=15)
    for name in (M.MULTIRES, *IMAGENET, *TORCHVISION):
        assert clip_shape(name) == ClipShape(num_frames=1, frame_step=1)


def test_param_counts_match_committed_json() -> None:
    counts = {
        name.value: {
            f"classes={c},crop_px={crop},width_mult={w}": _meta_count(name, c, crop, w)
            for c, crop, w in PINNED[name]
        }
        for name in MODELS
    }
    if os.environ.get("RAYLAB_WRITE_PARAM_COUNTS") == "1":
        PARAM_COUNTS.write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n")
    assert counts == json.loads(PARAM_COUNTS.read_text())


# --- numbers the papers (or torchvision's docs) state ---------------------------------------------


def test_alexnet_has_about_60m_parameters() -> None:
    """PAPERS.md 1.2: ~60 M. By hand: grouped convs see half the input maps; pool5 = 256x6x6."""
    convs = [(3, 96, 11, 1), (96, 256, 5, 2), (256, 384, 3, 1), (384, 384, 3, 2),
             (384, 256, 3, 2)]
    expected = sum(i // g * o * k * k + o for i, o, k, g in convs)
    expected += (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    count = _meta_count(M.ALEXNET, 1000, 224, 1.0)
    print(f"alexnet parameters (1000 classes, 224 px): {count:,}")
    assert count == expected == 60_965_224
    assert 60_000_000 <= count <= 63_000_000


def test_torchvision_counts_match_their_docs() -> None:
    """torchvision's model table: VGG-16 138,357,544 (the paper's "138M"); GoogLeNet 6,624,904."""
    assert _meta_count(M.VGG16, 1000, 224, 1.0) == 138_357_544
    assert _meta_count(M.GOOGLENET, 1000, 224, 1.0) == 6_624_904


def test_alexnet_layer_sizes_groups_and_lrn() -> None:
    torch.manual_seed(0)
    model = alexnet(num_classes=3, crop_px=224, width_mult=0.125).eval()
    x = torch.randn(1, 3, 1, 224, 224)
    assert model.convs["conv1"][0](x[:, :, 0]).shape[-2:] == (55, 55)  # before pool1
    feats = model.features(x)
    assert [feats[k].shape[-1] for k in ("conv1", "conv2", "conv3", "conv5")] == [27, 13, 13, 6]
    groups = {k: next(m for m in model.convs[k].modules() if isinstance(m, nn.Conv2d)).groups
              for k in ("conv1", "conv2", "conv3", "conv4", "conv5")}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
    # The paper's literal formula: alpha multiplies the plain sum of n squares.
    a = torch.zeros(1, 5, 1, 1)
    a[0, 2] = 10.0
    expected = 10.0 / (2.0 + LRN_ALPHA * 100) ** LRN_BETA
    torch.testing.assert_close(alexnet_lrn()(a)[0, 2, 0, 0], torch.tensor(expected))


def test_alexnet_paper_init() -> None:
    """PAPERS.md 1.4: N(0, 0.01) weights; bias 1 on conv2/4/5, fc6/7; 0 on conv1/3 and fc8."""
    torch.manual_seed(0)
    model = alexnet(num_classes=3, crop_px=64, width_mult=0.25, paper_init=True)
    layers = {**{k: next(m for m in v.modules() if isinstance(m, nn.Conv2d))
                 for k, v in model.convs.items()},
              "fc6": model.fc6[0], "fc7": model.fc7[0], "fc8": model.classifier}
    ones = {k for k, m in layers.items() if bool((m.bias == 1).all())}
    zeros = {k for k, m in layers.items() if bool((m.bias == 0).all())}
    assert ones == {"conv2", "conv4", "conv5", "fc6", "fc7"}
    assert zeros == {"conv1", "conv3", "fc8"}
    assert abs(model.fc6[0].weight.std().item() - 0.01) < 1e-3
    he = alexnet(num_classes=3, crop_px=64, width_mult=0.25)
    assert all(bool((m.bias == 0).all()) for m in he.modules() if isinstance(m, nn.Linear))


def test_zf_layer_sizes_and_paper_init() -> None:
    """PAPERS.md 2.1: 224 -> conv1 110 -> pool1 55 -> conv2 26 -> pool2 13 -> pool5 6x6."""
    torch.manual_seed(0)
    model = zf(num_classes=3, crop_px=224, width_mult=0.125, paper_init=True).eval()
    x = torch.randn(1, 3, 1, 224, 224)
    assert model.convs["conv1"][0](x[:, :, 0]).shape[-2:] == (110, 110)
    feats = model.features(x)
    assert [feats[k].shape[-1] for k in ("conv1", "conv2", "conv5")] == [55, 13, 6]
    # Pool before contrast normalisation (the reverse of AlexNet).
    assert [type(m) for m in model.convs["conv1"]][1:] == [nn.MaxPool2d, nn.LocalResponseNorm]
    assert abs(model.fc6[0].weight.std().item() - 0.01) < 1e-3
    assert all(bool((m.bias == 0).all()) for m in model.modules() if isinstance(m, nn.Conv2d))


def test_zf_renormalise_filters() -> None:
    """PAPERS.md 2.2: a conv filter with RMS > 0.1 is scaled to RMS 0.1; others are untouched."""
    torch.manual_seed(0)
    model = zf(num_classes=3, crop_px=64, width_mult=0.125)
    conv1 = model.convs["conv1"][0][0]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(0.01)  # every filter well inside the radius ...
        conv1.weight[0] = 2.0  # ... except two: RMS 2.0 and 0.5
        conv1.weight[1].normal_().mul_(0.5 / conv1.weight[1].pow(2).mean().sqrt())
    before = {n: p.clone() for n, p in model.named_parameters()}
    assert renormalise_filters_(model) == 2
    after = dict(model.named_parameters())
    rms = conv1.weight.pow(2).mean(dim=(1, 2, 3)).sqrt()
    torch.testing.assert_close(rms[:2], torch.full((2,), 0.1))
    torch.testing.assert_close(conv1.weight[1] / before["convs.conv1.0.0.weight"][1],
                               torch.full_like(conv1.weight[1], 0.2))  # direction kept
    for n in before:
        if n != "convs.conv1.0.0.weight":
            assert torch.equal(before[n], after[n]), n  # biases, FC and small filters untouched
    torch.testing.assert_close(conv1.weight[2:], before["convs.conv1.0.0.weight"][2:], rtol=0,
                               atol=0)
    assert renormalise_filters_(model) == 0  # idempotent
    # He init puts conv1's RMS at about sqrt(2 / 147) = 0.117, above the paper's radius.
    assert renormalise_filters_(zf(num_classes=3, crop_px=64, width_mult=0.125)) > 0
    with pytest.raises(ValueError, match="radius must be > 0"):
        renormalise_filters_(model, radius=0.0)
    frozen = zf(num_classes=3, crop_px=64, width_mult=0.125)
    frozen.convs["conv1"].requires_grad_(False)  # e.g. a pre-trained layer kept fixed
    kept = frozen.convs["conv1"][0][0].weight.clone()
    renormalise_filters_(frozen)
    assert torch.equal(frozen.convs["conv1"][0][0].weight, kept)


def test_cnn_m_pool5_is_512x6x6_at_224() -> None:
    """PAPERS.md 4.1 table: 224 -> conv1 109 -> 54 -> conv2 26 -> 13 -> pool5 512x6x6 = 18432."""
    with torch.device("meta"):
        full = cnn_m_2048(num_classes=101, crop_px=224)
        feats = full.features(torch.zeros(1, 3, 1, 224, 224))
    assert feats["conv5"].shape == (1, 512, 6, 6)
    assert full.fc6[0].in_features == 18_432 and full.fc7[0].out_features == 2048
    torch.manual_seed(0)
    small = cnn_m_2048(num_classes=3, crop_px=224, width_mult=0.125).eval()
    x = torch.randn(1, 3, 1, 224, 224)
    assert small.convs["conv1"][0](x[:, :, 0]).shape[-2:] == (109, 109)
    feats = small.features(x)
    assert [feats[k].shape[-1] for k in ("conv1", "conv2", "conv5")] == [54, 13, 6]


def test_cnn_m_temporal_stream() -> None:
    """PAPERS.md 4.1/4.4: 2L = 20 flow channels, no second LRN, dropout 0.9."""
    model = cnn_m_2048_temporal(num_classes=3, crop_px=64, width_mult=0.125)
    assert model.convs["conv1"][0][0].in_channels == 20 and model.dropout.p == 0.9
    assert any(isinstance(m, nn.LocalResponseNorm) for m in model.convs["conv1"])
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in model.convs["conv2"])
    assert model(torch.randn(2, 20, 1, 64, 64)).shape == (2, 3)
    assert cnn_m_2048_temporal(num_classes=3, crop_px=64, width_mult=0.125,
                               stack_length=5).in_channels == 10
    with pytest.raises(ValueError) as info:
        model(torch.zeros(1, 3, 1, 64, 64))
    assert str(info.value) == ("cnn_m_2048_temporal: expected a (B, 20, T, H, W) clip tensor, "
                               "got shape (1, 3, 1, 64, 64)")


# --- Karpathy fusion variants -----------------------------------------------------------------


def test_early_fusion_conv1_is_a_10_frame_conv3d() -> None:
    """Conv2d over the 30 stacked channels == Conv3d with kernel (10, 11, 11) (PAPERS.md 3.3)."""
    torch.manual_seed(0)
    model = early_fusion(num_classes=3, crop_px=40, width_mult=0.125)
    conv = model.convs["conv1"][0][0]
    assert (conv.in_channels, conv.kernel_size, conv.stride) == (30, (11, 11), (3, 3))
    x = torch.randn(2, 3, 10, 40, 40)
    with torch.no_grad():
        as_2d = conv(model.frames_to_input(x))
        as_3d = nn.functional.conv3d(x, conv.weight.unflatten(1, (3, 10)), conv.bias,
                                     stride=(1, 3, 3))
    torch.testing.assert_close(as_2d, as_3d.squeeze(2))


def test_late_fusion_shares_one_tower_and_merges_at_fc6() -> None:
    torch.manual_seed(0)
    model = late_fusion(num_classes=3, crop_px=48, width_mult=0.125).eval()
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 5  # one tower, two frames
    frame = torch.randn(2, 3, 1, 48, 48)
    feats = model.features(torch.cat([frame, frame], dim=2))
    assert feats["conv1"].shape[2] == 2
    torch.testing.assert_close(feats["conv5"][:, :, 0], feats["conv5"][:, :, 1])
    # Paper setting: fc6 sees two 256x7x7 pool5 maps, i.e. 256*7*7*4096 more weights than
    # the single-frame net.
    extra = _meta_count(M.LATE_FUSION, 487, 170, 1.0) - _meta_count(M.SINGLE_FRAME, 487, 170, 1.0)
    assert extra == 256 * 7 * 7 * 4096


def test_multires_streams() -> None:
    """PAPERS.md 3.4: a 178 px crop's two 89 px views, each ending at 256x7x7 (no last pool)."""
    with torch.device("meta"):
        full = multires_single_frame(num_classes=487, crop_px=178)
        feats = full.features(torch.zeros(1, VIEW_CHANNELS, 1, 89, 89))
        one = fovea_only(num_classes=487, crop_px=178)
    assert feats["fovea_conv5"].shape == feats["context_conv5"].shape == (1, 256, 7, 7)
    assert full.fc6[0].in_features == 2 * 256 * 7 * 7
    assert one.fc6[0].in_features == 256 * 7 * 7 and list(one.streams) == ["fovea"]
    torch.manual_seed(0)
    small = context_only(num_classes=3, crop_px=64, width_mult=0.125)
    assert list(small.features(torch.randn(2, VIEW_CHANNELS, 1, 32, 32))) == (
        [f"context_conv{i}" for i in range(1, 6)] + ["fc6", "fc7"])


def test_each_multires_stream_reads_its_own_view_channels() -> None:
    """Channels 0-2 are the fovea, 3-5 the context (MultiresView order): changing one view
    changes only its stream's features."""
    torch.manual_seed(0)
    net = multires_single_frame(num_classes=3, crop_px=64, width_mult=0.125).eval()
    x = torch.randn(2, VIEW_CHANNELS, 1, 32, 32)
    other = x.clone()
    other[:, 3:] = torch.randn(2, 3, 1, 32, 32)  # a new context view, the same fovea
    with torch.no_grad():
        a, b = net.features(x), net.features(other)
    torch.testing.assert_close(a["fovea_conv5"], b["fovea_conv5"])
    assert not torch.allclose(a["context_conv5"], b["context_conv5"])
    fovea = fovea_only(num_classes=3, crop_px=64, width_mult=0.125).eval()
    with torch.no_grad():
        torch.testing.assert_close(fovea(x), fovea(other))
    with pytest.raises(ValueError, match=r"multires: expected a \(B, 6, T, H, W\) clip tensor"):
        net(torch.randn(2, 3, 1, 64, 64))  # a crop whose views were not cut


# --- torchvision wrappers -------------------------------------------------------------------------


@pytest.mark.parametrize(("builder", "reference"), [
    (googlenet, lambda: torchvision.models.googlenet(
        weights=None, num_classes=4, aux_logits=False, init_weights=True, dropout=0.4)),
    (vgg16, lambda: torchvision.models.vgg16(weights=None, num_classes=4)),
])
def test_torchvision_wrappers_match_torchvision(builder, reference) -> None:
    """Same seed, same constructor call: the staged net computes torchvision's forward pass."""
    torch.manual_seed(0)
    ours = builder(num_classes=4, crop_px=64).eval()
    torch.manual_seed(0)
    theirs = reference().eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x.unsqueeze(2)), theirs(x))


# --- one-line errors and minimum crops ------------------------------------------------------------


@pytest.mark.parametrize(("build", "message"), [
    (lambda: vgg16(num_classes=2, crop_px=64, width_mult=0.5),
     "vgg16: width_mult must be 1.0 (torchvision widths), got 0.5"),
    (lambda: googlenet(num_classes=2, crop_px=64, width_mult=2.0),
     "googlenet: width_mult must be 1.0 (torchvision widths), got 2.0"),
    (lambda: alexnet(num_classes=2, crop_px=62), "alexnet: crop_px must be >= 63, got 62"),
    (lambda: zf(num_classes=2, crop_px=46), "zf: crop_px must be >= 47, got 46"),
    (lambda: cnn_m_2048(num_classes=2, crop_px=40), "cnn_m_2048: crop_px must be >= 41, got 40"),
    (lambda: vgg16(num_classes=2, crop_px=31), "vgg16: crop_px must be >= 32, got 31"),
    (lambda: googlenet(num_classes=2, crop_px=14), "googlenet: crop_px must be >= 15, got 14"),
    (lambda: multires_single_frame(num_classes=2, crop_px=21),
     "multires: crop_px must be >= 22, got 21"),
    (lambda: alexnet(num_classes=2, crop_px=64, width_mult=0),
     "alexnet: width_mult must be > 0, got 0"),
    (lambda: cnn_m_2048_temporal(num_classes=2, crop_px=64, stack_length=0),
     "cnn_m_2048_temporal: stack_length must be >= 1, got 0"),
])
def test_one_line_value_errors(build, message: str) -> None:
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message


@pytest.mark.parametrize("name", [M.VGG16, M.GOOGLENET, M.MULTIRES, M.ALEXNET])
def test_wrong_frame_count_raises(name: ModelName) -> None:
    crop_px, width_mult = SHAPE_SETTING[name]
    with torch.device("meta"):
        model = MODELS[name].build(num_classes=2, crop_px=crop_px, width_mult=width_mult)
        with pytest.raises(ValueError) as info:
            model(torch.zeros(1, IN_CHANNELS.get(name, 3), 2, crop_px, crop_px))
    assert str(info.value) == f"{name.value}: expected 1 frames per clip, got 2"


@pytest.mark.parametrize(("module", "constant", "builder"), [
    (alexnet_module, "MIN_CROP_PX", alexnet),
    (zf_module, "MIN_CROP_PX", zf),
    (cnn_m_module, "MIN_CROP_PX", cnn_m_2048),
    (torchvision_nets, "VGG16_MIN_CROP_PX", vgg16),
    (torchvision_nets, "GOOGLENET_MIN_CROP_PX", googlenet),
])
def test_min_crop_is_tight(monkeypatch, module, constant: str, builder) -> None:
    """The minimum crop runs; one pixel less breaks the conv stack itself."""
    smallest = getattr(module, constant)
    width_mult = 1.0 if module is torchvision_nets else 0.125
    monkeypatch.setattr(module, constant, 1)
    with torch.device("meta"):
        for crop_px, ok in ((smallest, True), (smallest - 1, False)):
            try:
                model = builder(num_classes=2, crop_px=crop_px, width_mult=width_mult).eval()
                model(torch.zeros(1, 3, 1, crop_px, crop_px))
                ran = True
            except RuntimeError:
                ran = False
            assert ran is ok, crop_px


def test_build_model_passes_dropout() -> None:
    cfg = ModelConfig(name=M.GOOGLENET, dropout=0.3)
    assert build_model(cfg, num_classes=2, crop_px=64).head[0].p == 0.3
    cfg = ModelConfig(name=M.CNN_M_2048_TEMPORAL, width_mult=0.125, dropout=0.9)
    assert build_model(cfg, num_classes=2, crop_px=64).dropout.p == 0.9
    cfg = ModelConfig(name=M.MULTIRES, width_mult=0.125, dropout=0.2)
    assert build_model(cfg, num_classes=2, crop_px=64).dropout.p == 0.2
    assert single_frame(num_classes=2, crop_px=64, width_mult=0.125).dropout.p == 0.5
