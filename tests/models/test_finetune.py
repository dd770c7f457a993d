"""Fine-tuning: layer blocks of every model, depth -> trainable tensors, LR groups, loading."""

from __future__ import annotations

import pytest
import torch
import torchvision

from raylab.config import ConfigError, FinetuneDepth, ModelConfig, ModelName, TransferConfig
from raylab.models.build import MODELS, build_model
from raylab.models.finetune import (
    CLASSIFIER,
    LR_MULT,
    layer_blocks,
    param_groups,
    prepare_transfer,
    trainable_blocks,
)

M = ModelName
D = FinetuneDepth


def _build(name: ModelName, num_classes: int = 5, *, width: float = 0.125, crop: int = 64,
           seed: int = 0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(name=name, width_mult=width), num_classes=num_classes,
                       crop_px=crop)


def _trainable(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_splits_into_ordered_blocks_covering_each_tensor_once(name):
    width = 1.0 if name in (M.VGG16, M.GOOGLENET) else 0.125
    with torch.device("meta"):
        model = build_model(ModelConfig(name=name, width_mult=width), num_classes=7, crop_px=96)
    blocks = layer_blocks(model)
    names = [n for ns in blocks.values() for n in ns]
    assert sorted(names) == sorted(model.state_dict())  # every tensor, exactly once
    assert list(blocks)[-1] == CLASSIFIER
    assert all(blocks.values())  # no weightless block counts as a layer
    head = dict(model.named_parameters())
    assert {tuple(head[n].shape) for n in blocks[CLASSIFIER] if n.endswith("weight")} == {
        (7, head[blocks[CLASSIFIER][0]].shape[1])}


@pytest.mark.parametrize(("name", "top3"), [
    (M.SINGLE_FRAME, ["fc6", "fc7", "classifier"]),
    (M.SLOW_FUSION, ["fc6", "fc7", "classifier"]),
    (M.ALEXNET, ["fc6", "fc7", "classifier"]),
    (M.MULTIRES, ["fc6", "fc7", "classifier"]),
    (M.GOOGLENET, ["inception4", "inception5", "classifier"]),
])
def test_top_k_counts_layers_from_the_classifier_down(name, top3):
    width = 1.0 if name == M.GOOGLENET else 0.125
    with torch.device("meta"):
        model = build_model(ModelConfig(name=name, width_mult=width), num_classes=3, crop_px=96)
    assert trainable_blocks(model, D.TOP_K, 3) == top3
    assert trainable_blocks(model, D.LAST_LAYER, 99) == ["classifier"]
    assert trainable_blocks(model, D.ALL, 1) == list(layer_blocks(model))
    with pytest.raises(ConfigError, match="transfer.top_k"):
        trainable_blocks(model, D.TOP_K, len(layer_blocks(model)) + 1)


def _source(tmp_path, name=M.SINGLE_FRAME, num_classes=8):
    """A 'pre-trained' model's state_dict saved as a .pt file, and the model."""
    model = _build(name, num_classes, seed=1)
    path = tmp_path / "pretrained.pt"
    torch.save(model.state_dict(), path)
    return model, torch.load(path, weights_only=True)


@pytest.mark.parametrize(("depth", "k", "trained_blocks"), [
    (D.LAST_LAYER, 3, {"classifier"}),
    (D.TOP_K, 3, {"fc6", "fc7", "classifier"}),
    (D.TOP_K, 6, {"conv3", "conv4", "conv5", "fc6", "fc7", "classifier"}),
    (D.ALL, 3, {"conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "classifier"}),
])
def test_depth_freezes_everything_below_and_reinitialises_a_new_head(tmp_path, depth, k,
                                                                     trained_blocks):
    source, state = _source(tmp_path, num_classes=8)
    model = _build(M.SINGLE_FRAME, num_classes=5, seed=2)
    fresh_head = model.classifier.weight.detach().clone()
    report = prepare_transfer(model, TransferConfig(init_from="x", depth=depth, top_k=k), state,
                              source="pretrained.pt")
    blocks = layer_blocks(model)
    expected = {n for b in trained_blocks for n in blocks[b]}
    assert _trainable(model) == expected
    assert set(report.frozen) == set(model.state_dict()) - expected
    # the 8-class head cannot load into a 5-class model: it keeps its own init
    assert sorted(report.reinitialised) == ["classifier.bias", "classifier.weight"]
    assert torch.equal(model.classifier.weight, fresh_head)
    for name in report.loaded:
        assert torch.equal(model.state_dict()[name], source.state_dict()[name]), name
    assert len(report.loaded) == len(model.state_dict()) - 2
    assert "re-initialised    2" in report.summary()


def test_param_groups_give_the_head_full_rate_and_pretrained_layers_the_multiplier(tmp_path):
    _, state = _source(tmp_path)
    model = _build(M.SINGLE_FRAME)
    cfg = TransferConfig(init_from="x", depth=D.TOP_K, top_k=3, pretrained_lr_mult=0.1)
    prepare_transfer(model, cfg, state, source="s")
    groups = param_groups(model, cfg)
    by_name = {g["name"]: g for g in groups}
    assert by_name["classifier"][LR_MULT] == 1.0 and by_name["pretrained"][LR_MULT] == 0.1
    ids = {id(p) for g in groups for p in g["params"]}
    assert ids == {id(p) for p in model.parameters() if p.requires_grad}  # nothing frozen in
    assert {id(p) for p in by_name["pretrained"]["params"]} == {
        id(p) for m in (model.fc6, model.fc7) for p in m.parameters()}
    # scratch: no pre-trained layers, so no slower group whatever the multiplier says
    scratch = _build(M.SINGLE_FRAME)
    groups = param_groups(scratch, TransferConfig(pretrained_lr_mult=0.1))
    assert {g[LR_MULT] for g in groups} == {1.0}
    assert sum(len(g["params"]) for g in groups) == len(list(scratch.parameters()))


def test_pretrained_multiplier_zero_freezes_all_but_the_classifier(tmp_path):
    _, state = _source(tmp_path)
    model = _build(M.SINGLE_FRAME)
    cfg = TransferConfig(init_from="x", depth=D.ALL, pretrained_lr_mult=0.0)
    prepare_transfer(model, cfg, state, source="s")
    assert _trainable(model) == {"classifier.weight", "classifier.bias"}
    assert [g["name"] for g in param_groups(model, cfg)] == ["classifier"]


def test_shape_mismatch_below_the_head_names_the_tensor(tmp_path):
    _, state = _source(tmp_path)  # width 0.125
    wider = _build(M.SINGLE_FRAME, width=0.25)
    with pytest.raises(ConfigError, match=r"src\.pt: tensor convs\.conv1\.0\.0\.weight has shape"):
        prepare_transfer(wider, TransferConfig(init_from="x", depth=D.ALL), state,
                         source="src.pt")
    with pytest.raises(ConfigError, match="none of its .* tensors"):
        prepare_transfer(_build(M.SINGLE_FRAME), TransferConfig(init_from="x", depth=D.ALL),
                         {"foo.weight": torch.zeros(1)}, source="src.pt")
    missing = {k: v for k, v in state.items() if not k.startswith("fc7")}
    with pytest.raises(ConfigError, match="has no tensor fc7.0.weight"):
        prepare_transfer(_build(M.SINGLE_FRAME), TransferConfig(init_from="x", depth=D.ALL),
                         missing, source="src.pt")


def test_slow_fusion_weights_do_not_load_into_a_single_frame_net(tmp_path):
    _, state = _source(tmp_path, name=M.SLOW_FUSION)
    with pytest.raises(ConfigError, match="tensor convs.conv1.0.0.weight has shape"):
        prepare_transfer(_build(M.SINGLE_FRAME), TransferConfig(init_from="x", depth=D.ALL),
                         state, source="s")


def test_torchvision_state_dict_loads_into_googlenet_and_extra_heads_are_ignored():
    torch.manual_seed(3)
    tv = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False,
                                      num_classes=1000)
    state = tv.state_dict()  # torchvision keys, with the aux classifiers ImageNet files carry
    model = _build(M.GOOGLENET, num_classes=4, width=1.0, crop=32)
    report = prepare_transfer(model, TransferConfig(init_from="x", depth=D.LAST_LAYER), state,
                              source="googlenet.pth")
    assert report.ignored and all(k.startswith(("aux1.", "aux2.")) for k in report.ignored)
    assert sorted(report.reinitialised) == ["head.1.bias", "head.1.weight"]
    assert torch.equal(model.stages["conv1"][0].conv.weight, tv.conv1.conv.weight)
    assert torch.equal(model.stages["inception5"][1].branch1.bn.running_var,
                       tv.inception5b.branch1.bn.running_var)
    # frozen batch norm keeps its statistics in train mode
    frozen_bn = model.stages["conv1"][0].bn
    before = frozen_bn.running_mean.clone()
    model.train()
    model(torch.randn(2, 3, 1, 32, 32))
    assert torch.equal(frozen_bn.running_mean, before)
    assert _trainable(model) == {"head.1.weight", "head.1.bias"}
