"""Clip planning is pure, deterministic per (seed, epoch, video) and stays inside the video."""

from raylab.data.clips import clip_span, plan_eval_clips, plan_train_clips


def test_train_clips_are_deterministic_and_vary_by_epoch():
    kw = dict(num_frames=10, frame_step=1, clips_per_video=3, seed=7)
    a = plan_train_clips("A/v_A_g01_c01", 100, epoch=0, **kw)
    assert a == plan_train_clips("A/v_A_g01_c01", 100, epoch=0, **kw)
    assert a != plan_train_clips("A/v_A_g01_c01", 100, epoch=1, **kw)
    assert a != plan_train_clips("A/v_A_g02_c01", 100, epoch=0, **kw)
    for clip in a:
        assert len(clip) == 10
        assert clip == list(range(clip[0], clip[0] + 10))
        assert 0 <= clip[0] and clip[-1] <= 99


def test_train_clip_starts_cover_the_whole_video():
    starts = {plan_train_clips("v", 20, num_frames=10, frame_step=1, clips_per_video=1,
                               seed=0, epoch=e)[0][0] for e in range(300)}
    assert starts == set(range(0, 11))


def test_strided_clip_and_short_video_repeat_last_frame():
    assert clip_span(2, 15) == 16
    clip = plan_eval_clips(10, num_frames=2, frame_step=15, clips_per_video=1)[0]
    assert clip == [0, 9]


def test_eval_clips_are_uniform_from_first_to_last():
    clips = plan_eval_clips(40, num_frames=10, frame_step=1, clips_per_video=4)
    assert [c[0] for c in clips] == [0, 10, 20, 30]
    assert clips[-1][-1] == 39
