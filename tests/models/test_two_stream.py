"""Multi-task temporal net: two softmax heads on one trunk, loss = sum of per-dataset means."""

import pytest
import torch
from torch import nn

from raylab.config import ModelConfig, ModelName
from raylab.models.build import StreamInput, build_model, stream_input
from raylab.models.cnn_m import cnn_m_2048_temporal
from raylab.models.two_stream import (
    MultiTaskNet,
    multitask_loss,
    task_losses,
    task_of,
    task_predict,
    task_softmax,
)


def _net(k=(3, 2), stack_length=2) -> MultiTaskNet:
    torch.manual_seed(0)
    trunk = cnn_m_2048_temporal(num_classes=1, crop_px=41, width_mult=0.0625, dropout=0.0,
                                stack_length=stack_length)
    return MultiTaskNet(trunk, k)


def test_build_model_gives_flow_models_2L_input_channels():
    cfg = ModelConfig(name=ModelName.CNN_M_2048_TEMPORAL, width_mult=0.0625)
    assert stream_input(cfg.name) is StreamInput.FLOW
    assert stream_input(ModelName.CNN_M_2048) is StreamInput.RGB
    assert build_model(cfg, num_classes=4, crop_px=41, stack_length=5).in_channels == 10
    assert build_model(cfg, num_classes=4, crop_px=41, stack_length=1).in_channels == 2


def test_logits_concatenate_one_head_per_task():
    net = _net().eval()
    x = torch.randn(4, 4, 1, 41, 41)
    logits = net(x)
    assert logits.shape == (4, 5)
    assert net.task_logits(logits, 0).shape == (4, 3) and net.task_logits(logits, 1).shape == (4, 2)
    assert task_of(torch.tensor([0, 2, 3, 4]), net.offsets).tolist() == [0, 0, 1, 1]


def test_loss_is_the_sum_of_each_datasets_mean_on_its_own_head():
    net = _net().eval()
    logits = torch.randn(5, 5)
    labels = torch.tensor([0, 2, 3, 4, 1])  # 3 samples of task 0, 2 of task 1 (joint labels)
    expected = (nn.functional.cross_entropy(logits[[0, 1, 4], :3], torch.tensor([0, 2, 1]))
                + nn.functional.cross_entropy(logits[[2, 3], 3:], torch.tensor([0, 1])))
    torch.testing.assert_close(multitask_loss(net, logits, labels), expected)
    dropped = multitask_loss(net, logits, labels, weights=torch.tensor([1., 1., 0., 0., 1.]))
    torch.testing.assert_close(dropped, nn.functional.cross_entropy(
        logits[[0, 1, 4], :3], torch.tensor([0, 2, 1])))


def test_a_task_absent_from_the_batch_gets_no_gradient():
    net = _net()
    x = torch.randn(3, 4, 1, 41, 41)
    multitask_loss(net, net(x), torch.tensor([0, 1, 2])).backward()
    assert net.heads[0].weight.grad.abs().sum() > 0
    assert net.heads[1].weight.grad is None or net.heads[1].weight.grad.abs().sum() == 0


def test_mixed_batches_from_two_datasets_train_both_heads():
    net = _net()
    torch.manual_seed(1)
    x = torch.randn(10, 4, 1, 41, 41)
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])  # both datasets in every batch
    opt = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9)
    first = None
    for _ in range(40):
        loss = multitask_loss(net, net(x), labels)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.2 * first
    net.eval()
    logits = net(x)
    assert net.task_logits(logits[:3], 0).argmax(1).tolist() == [0, 1, 2]
    assert net.task_logits(logits[3:5], 1).argmax(1).tolist() == [0, 1]


def test_each_sample_is_predicted_and_scored_on_its_own_datasets_head():
    net = _net()
    # Row 0 (task 0) has its largest logit in task 1's columns; row 1 (task 1) in task 0's.
    logits = torch.tensor([[0.0, 2.0, 1.0, 9.0, 0.0],
                           [9.0, 0.0, 0.0, 1.0, 3.0]])
    labels = torch.tensor([1, 4])
    assert task_predict(net, logits, labels).tolist() == [1, 4]
    probs = task_softmax(net, logits)
    torch.testing.assert_close(probs[:, :3].sum(1), torch.ones(2))
    torch.testing.assert_close(probs[:, 3:].sum(1), torch.ones(2))
    torch.testing.assert_close(probs[:, 3:], torch.softmax(logits[:, 3:], dim=1))


def test_task_losses_are_the_terms_the_loss_sums_and_zero_for_an_absent_task():
    net = _net()
    logits, labels = torch.randn(4, 5), torch.tensor([0, 2, 1, 0])  # task 0 only
    terms = task_losses(net, logits, labels)
    assert terms.shape == (2,) and float(terms[1]) == 0.0
    torch.testing.assert_close(terms.sum(), multitask_loss(net, logits, labels))


def test_build_model_with_task_classes_gives_one_head_per_dataset():
    cfg = ModelConfig(name=ModelName.CNN_M_2048_TEMPORAL, width_mult=0.0625)
    net = build_model(cfg, num_classes=7, crop_px=41, stack_length=2, task_classes=(4, 3))
    assert isinstance(net, MultiTaskNet) and net.num_classes == (4, 3)
    assert list(net.layer_blocks())[-1] == "classifier"
    assert net.layer_blocks()["classifier"] == tuple(net.heads)
    with pytest.raises(ValueError, match="sum to num_classes"):
        build_model(cfg, num_classes=6, crop_px=41, stack_length=2, task_classes=(4, 3))
