"""The plain PyTorch loop (no Ray): it learns, it ignores undecodable clips, checkpoints restore."""

import numpy as np
import pytest
import torch

from raylab.config import ConfigError, LrSchedule, ModelConfig, ModelName, OptimConfig, Precision
from raylab.data.augment import CentreClipView, TrainClipAugment
from raylab.models.build import build_model
from raylab.models.zf import FILTER_RADIUS, renormalise_filters_, zf
from raylab.train import checkpoint as ckpt
from raylab.train.loop import evaluate, train_epoch
from raylab.train.optim import lr_at, make_optimizer
from raylab.train.precision import compute_for

CPU = torch.device("cpu")


def _batches(n, *, bad_every=0, seed=0, px=40):
    """uint8 clips: class 0 dark frames, class 1 bright frames; some marked undecodable."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for b in range(n):
        labels = torch.randint(0, 2, (8,), generator=g)
        frames = (labels.view(8, 1, 1, 1, 1) * 120 + 60
                  + torch.randint(0, 40, (8, 1, px, px, 3), generator=g)).to(torch.uint8)
        ok = torch.ones(8, dtype=torch.bool)
        if bad_every:
            ok[::bad_every] = False
        out.append({"video_id": [f"v{b}_{i}" for i in range(8)], "label": labels,
                    "frames": frames, "decode_ok": ok})
    return out


def _model():
    torch.manual_seed(0)
    return build_model(ModelConfig(name=ModelName.SINGLE_FRAME, width_mult=0.125, dropout=0.0),
                       num_classes=2, crop_px=32)


def test_train_epoch_learns_and_counts_decode_failures():
    model = _model()
    opt = make_optimizer(model, OptimConfig(lr=0.01))
    aug = TrainClipAugment(crop_px=32, flip_p=0.5, pixel_mean=117, pixel_scale=64)
    data = _batches(30, bad_every=4)
    same = {"augment": aug, "optimizer": opt, "device": CPU, "lr_at_step": lambda _: 0.01,
            "first_step": 0, "compute": compute_for(CPU, Precision.FP32, channels_last=True)}
    first = train_epoch(model, data[:5], num_steps=5, **same)
    for _ in range(3):
        last = train_epoch(model, data, num_steps=30, **same)
    assert last.loss < first.loss
    assert last.clip_acc > 0.95
    assert last.decode_failures == 30 * 2  # 2 of every 8 clips are marked bad
    assert last.clips == 30 * 6


def test_evaluate_skips_bad_clips_and_keeps_ids():
    model = _model()
    view = CentreClipView(crop_px=32, pixel_mean=117, pixel_scale=64)
    scores, failures = evaluate(model, _batches(2, bad_every=2), view=view, device=CPU,
                                compute=compute_for(CPU, Precision.FP32, channels_last=False))
    assert failures == 8
    assert len(scores.video_ids) == 8 and scores.probs.shape == (8, 2)
    assert all(v.endswith(("_1", "_3", "_5", "_7")) for v in scores.video_ids)


def test_checkpoint_round_trip_is_identity(tmp_path):
    model, other = _model(), build_model(
        ModelConfig(name=ModelName.SINGLE_FRAME, width_mult=0.125), num_classes=2, crop_px=32)
    opt = make_optimizer(model, OptimConfig())
    ckpt.save(tmp_path, model, opt, ckpt.TrainState(next_epoch=3, best_metric=0.5))
    state = ckpt.load(tmp_path, other, make_optimizer(other, OptimConfig()))
    assert state.next_epoch == 3 and state.best_metric == 0.5
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)


def test_lr_steps_down_at_decay_epochs():
    cfg = OptimConfig(lr=0.01, lr_decay_epochs=(2, 4), lr_decay_factor=0.1)
    # 10 steps per epoch: the drop lands on the first step of epochs 2 and 4, not before
    assert [round(lr_at(s, 10, cfg), 6) for s in (0, 19, 20, 39, 40)] == [
        0.01, 0.01, 0.001, 0.001, 0.0001]


@pytest.mark.parametrize(("schedule", "epochs", "drops_at_step"), [
    # 100 steps in all (10 epochs x 10 steps): AlexNet drops at 1/4, 1/2, 3/4 of the run;
    # two-stream scratch at 50K/80K and 70K/80K; two-stream fine-tune at 14K/20K.
    (LrSchedule.ALEXNET, 10, (25, 50, 75)),
    (LrSchedule.TWO_STREAM_SCRATCH, 8, (50, 70)),
    (LrSchedule.TWO_STREAM_FINETUNE, 20, (140,)),
])
def test_paper_schedules_divide_by_ten_at_their_fractions_of_the_run(
        schedule, epochs, drops_at_step):
    cfg = OptimConfig(lr=0.01, num_epochs=epochs, schedule=schedule)
    lrs = [lr_at(s, 10, cfg) for s in range(epochs * 10)]
    changes = [s for s in range(1, len(lrs)) if lrs[s] != lrs[s - 1]]
    assert changes == list(drops_at_step)
    for k, s in enumerate(drops_at_step):
        assert lrs[s - 1] == pytest.approx(0.01 * 0.1**k)
        assert lrs[s] == pytest.approx(0.01 * 0.1 ** (k + 1))


def test_warmup_rises_linearly_then_hands_over_to_the_schedule():
    cfg = OptimConfig(lr=0.1, num_epochs=4, warmup_epochs=0.5, lr_decay_epochs=(2,))
    # 10 steps per epoch: warmup is 5 steps, 0.02 .. 0.1
    assert [round(lr_at(s, 10, cfg), 6) for s in range(6)] == [0.02, 0.04, 0.06, 0.08, 0.1, 0.1]
    assert lr_at(20, 10, cfg) == pytest.approx(0.01)


def test_paper_schedules_refuse_step_decay_epochs():
    with pytest.raises(ConfigError, match="optim.lr_decay_epochs"):
        OptimConfig(schedule=LrSchedule.ALEXNET, lr_decay_epochs=(3,))


def test_group_lr_multipliers_are_applied_per_step():
    model = _model()
    groups = [{"params": list(model.fc6.parameters()), "lr_mult": 0.1},
              {"params": list(model.classifier.parameters())}]
    opt = make_optimizer(model, OptimConfig(lr=0.01), groups=groups)
    aug = TrainClipAugment(crop_px=32, flip_p=0.0, pixel_mean=117, pixel_scale=64)
    seen = []
    train_epoch(model, _batches(3), augment=aug, optimizer=opt, device=CPU, num_steps=3,
                lr_at_step=lambda s: seen.append(s) or 0.5 * (s + 1), first_step=7,
                compute=compute_for(CPU, Precision.FP32, channels_last=False))
    assert seen == [7, 8, 9]  # global steps, continuing from first_step
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 5.0])


def test_bf16_autocast_runs_on_cpu_and_fp16_falls_back_to_fp32():
    bf16 = compute_for(CPU, Precision.BF16, channels_last=True)
    assert bf16.autocast_enabled and not bf16.channels_last  # layout is a GPU-only change
    fp16 = compute_for(CPU, Precision.FP16, channels_last=False)
    assert fp16.dtype == torch.float32 and not fp16.scaler.is_enabled()
    model = _model()
    opt = make_optimizer(model, OptimConfig(lr=0.01))
    aug = TrainClipAugment(crop_px=32, flip_p=0.0, pixel_mean=117, pixel_scale=64)
    before = model.classifier.weight.detach().clone()
    stats = train_epoch(model, _batches(4), augment=aug, optimizer=opt, device=CPU, num_steps=4,
                        lr_at_step=lambda _: 0.01, first_step=0, compute=bf16)
    assert stats.clips == 32 and torch.isfinite(torch.tensor(stats.loss))
    assert model.classifier.weight.dtype == torch.float32  # weights stay float32 under autocast
    assert not torch.equal(before, model.classifier.weight)
    scores, _ = evaluate(model, _batches(1), view=CentreClipView(
        crop_px=32, pixel_mean=117, pixel_scale=64), device=CPU, compute=bf16)
    assert scores.probs.dtype == np.float32 and np.allclose(scores.probs.sum(1), 1, atol=1e-3)


class _Says(torch.nn.Module):
    """Scores every clip the same: class `top` highest, then class `second` (no learning)."""

    def __init__(self, top: int, second: int, num_classes: int = 6):
        super().__init__()
        logits = torch.zeros(num_classes)
        logits[top], logits[second] = 4.0, 2.0
        self.register_buffer("logits", logits)

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


def _collated(ids, labels, label_sets, ok):
    """Pipeline rows through ClipCollate, the way Ray Data hands them over: label sets of
    unequal length are an object array of 1-D arrays."""
    from raylab.data import columns as C
    from raylab.data.pipeline import ClipCollate

    sets = np.empty(len(label_sets), dtype=object)
    sets[:] = [np.asarray(s, dtype=np.int64) for s in label_sets]
    n = len(ids)
    return ClipCollate()({
        C.VIDEO_ID: np.asarray(ids, dtype=object), C.LABEL: np.asarray(labels),
        C.LABELS: sets, C.CLIP_INDEX: np.zeros(n, np.int64), C.EPOCH: np.zeros(n, np.int64),
        C.FRAMES: np.full((n, 1, 40, 40, 3), 100, np.uint8), C.DECODE_OK: np.asarray(ok)})


def test_a_multi_label_video_is_a_hit_for_its_second_label():
    from raylab.eval.aggregate import ClipScores, summarize

    # Every clip is scored "class 3 first, class 5 second". Video m is labelled (1, 3): a hit at
    # 1 by its second label; s (label 1 only) misses; t's one clip failed to decode.
    batch = _collated(["m", "m", "s", "t"], [1, 1, 1, 5], [(1, 3), (1, 3), (1,), (5,)],
                      [True, True, True, False])
    assert batch["labels"] == [(1, 3), (1, 3), (1,), (5,)]
    view = CentreClipView(crop_px=32, pixel_mean=117, pixel_scale=64)
    scores, failures = evaluate(_Says(3, 5), [batch], view=view, device=CPU,
                                compute=compute_for(CPU, Precision.FP32, channels_last=False))
    assert failures == 1 and scores.truth() == [(1, 3), (1, 3), (1,)]
    m = summarize(scores)
    assert m["video_hit1"] == 0.5 and m["num_videos"] == 2  # m hits by label 3, s misses
    assert m["clip_hit1"] == pytest.approx(2 / 3)
    # Read by its first label only, m would miss too.
    first_only = ClipScores(scores.video_ids, scores.labels, scores.probs)
    assert summarize(first_only)["video_hit1"] == 0.0


def test_evaluate_without_label_sets_is_single_label():
    # Image and flow rows carry no label sets: the first label is the only truth.
    batch = _collated(["a", "b"], [3, 1], [(3,), (1,)], [True, True])
    del batch["labels"]
    view = CentreClipView(crop_px=32, pixel_mean=117, pixel_scale=64)
    scores, _ = evaluate(_Says(3, 5), [batch], view=view, device=CPU,
                         compute=compute_for(CPU, Precision.FP32, channels_last=False))
    assert scores.label_sets is None and scores.truth() == [(3,), (1,)]


def _conv_rms(model):
    return torch.cat([m.weight.detach().pow(2).mean(dim=(1, 2, 3)).sqrt()
                      for m in model.modules() if isinstance(m, torch.nn.Conv2d)])


def _one_step(model, lr):
    opt = make_optimizer(model, OptimConfig(lr=lr))
    aug = TrainClipAugment(crop_px=64, flip_p=0.0, pixel_mean=117, pixel_scale=64)
    torch.manual_seed(1)  # same dropout masks for every model built from the same seed
    train_epoch(model, _batches(1, px=68), augment=aug, optimizer=opt, device=CPU, num_steps=1,
                lr_at_step=lambda _: lr, first_step=0,
                compute=compute_for(CPU, Precision.FP32, channels_last=False))


def test_zf_filters_are_renormalised_after_every_step_and_other_models_are_not():
    """PAPERS.md 2.2: after an update, every conv filter with RMS > 0.1 is scaled back to 0.1."""
    torch.manual_seed(0)
    clamped = zf(num_classes=2, crop_px=64, width_mult=0.125)
    torch.manual_seed(0)
    free = zf(num_classes=2, crop_px=64, width_mult=0.125, renormalise=False)
    for m in (clamped, free):
        _one_step(m, lr=50.0)  # a huge step throws filters far outside the radius
    assert _conv_rms(free).max() > 10 * FILTER_RADIUS  # the step alone does leave the ball
    assert _conv_rms(clamped).max() <= FILTER_RADIUS * (1 + 1e-5)
    # The clamp is the only difference: the unconstrained net, clamped by hand, matches.
    assert renormalise_filters_(free) > 0
    for a, b in zip(clamped.parameters(), free.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_models_without_a_constraint_train_exactly_as_before():
    """AlexNet has no step constraint: the loop's step equals a bare SGD step, and its filters
    may leave the ZF radius."""
    cfg = ModelConfig(name=ModelName.ALEXNET, width_mult=0.125, dropout=0.0)
    torch.manual_seed(0)
    model = build_model(cfg, num_classes=2, crop_px=64)
    torch.manual_seed(0)
    ref = build_model(cfg, num_classes=2, crop_px=64)
    _one_step(model, lr=50.0)
    batch = _batches(1, px=68)[0]
    aug = TrainClipAugment(crop_px=64, flip_p=0.0, pixel_mean=117, pixel_scale=64)
    opt = make_optimizer(ref, OptimConfig(lr=50.0))
    torch.manual_seed(1)
    loss = torch.nn.functional.cross_entropy(ref(aug(batch["frames"])), batch["label"])
    loss.backward()
    opt.step()
    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert _conv_rms(model).max() > FILTER_RADIUS
