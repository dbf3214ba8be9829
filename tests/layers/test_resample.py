"""The in-model random resampling (SpeechSplit's InterpLnr): identity in eval, one plan for every
tensor, whole utterances covered at any length, segment and factor ranges kept."""

from __future__ import annotations

import pytest
import torch

from sertool.errors import SertoolError
from sertool.layers.resample import InterpLnr, draw_plan


def ramp(lengths: list[int], channels: int = 3) -> torch.Tensor:
    """Frame t of every sequence holds the value t (zero past its length)."""
    t = max(lengths)
    x = torch.arange(t, dtype=torch.float32)[None, :, None].repeat(len(lengths), 1, channels)
    return x * (torch.arange(t)[None, :] < torch.tensor(lengths)[:, None])[..., None]


def test_identity_in_eval_mode():
    rr = InterpLnr().eval()
    x = torch.randn(2, 50, 4)
    (y,), lengths = rr([x], torch.tensor([50, 20]))
    assert y is x and lengths.tolist() == [50, 20]


def test_content_and_pitch_share_one_plan():
    torch.manual_seed(0)
    rr = InterpLnr().train()
    spec, pitch = torch.randn(3, 120, 80), torch.randn(3, 120, 257)
    both = torch.cat([spec, pitch], -1)
    (a, b, joint), lengths = rr([spec, pitch, both], torch.tensor([120, 97, 40]))
    assert torch.equal(torch.cat([a, b], -1), joint)  # resampled apart = resampled together: aligned
    assert a.shape[1] == b.shape[1] == int(lengths.max())


@pytest.mark.parametrize("length", [7, 192, 500, 1200])
def test_whole_utterances_are_covered(length):
    """The last output frame reads the last input frame and time runs forward, even past 192 frames."""
    torch.manual_seed(length)
    lengths = torch.tensor([length, max(1, length // 3)])
    plan = draw_plan(lengths)
    for i, n in enumerate(lengths.tolist()):
        m = int(plan.lengths[i])
        src = plan.lo[i, :m] + plan.w[i, :m, 0]
        assert abs(float(src[-1]) - (n - 1)) <= 1.0 and float(src[0]) <= 1.0
        assert bool((src[1:] >= src[:-1] - 1e-6).all())
        assert int(plan.hi[i, :m].max()) <= n - 1


def test_lengths_follow_the_drawn_factors():
    torch.manual_seed(1)
    rr = InterpLnr(segment=(19, 32), factor=(0.5, 1.5)).train()
    x = ramp([3000, 640])
    (y,), lengths = rr([x], torch.tensor([3000, 640]))
    assert 0.85 < float(lengths[0]) / 3000 < 1.15  # ~95 segments, mean factor 1
    assert not y[1, int(lengths[1]):].any()  # padding stays zero
    # a constant factor of 2 doubles every segment
    (_,), doubled = InterpLnr(factor=(2.0, 2.0)).train()([x], torch.tensor([3000, 640]))
    assert doubled.tolist() == [6000, 1280]


def test_local_stretch_within_the_drawn_range():
    torch.manual_seed(2)
    plan = draw_plan(torch.tensor([400]), segment=(20, 20), factor=(0.5, 1.5))
    src = (plan.lo + plan.w[..., 0])[0, : int(plan.lengths[0])]
    steps, counts = torch.unique(torch.round((src[1:] - src[:-1]) * 1e4) / 1e4, return_counts=True)
    within = steps[counts >= 5]  # the step inside each segment (its edges are clamped to the segment)
    assert len(within) >= 5  # segments drew different factors
    assert float(within.min()) >= 20 / 30 - 1e-4 and float(within.max()) <= 20 / 10 + 1e-4  # round(20 · f) cells


def test_bad_ranges_are_refused():
    with pytest.raises(SertoolError, match="segment"):
        InterpLnr(segment=(32, 19))
    with pytest.raises(SertoolError, match="factor"):
        InterpLnr(factor=(0.0, 1.5))
