"""Losses and targets: M_gt (Eq. 3), L_A (Eq. 4), soft labels and L_T (Eq. 6), L_E (Eq. 9)."""

import pytest
import torch

from fineparser.losses import (attention_loss, mask_targets, score_loss, snippet_transitions,
                               soft_labels, step_centres, temporal_loss)


def test_mask_targets_average_frame_pairs_then_pool():
    masks = torch.zeros(1, 1, 4, 4, 4)
    masks[0, 0, 0, :2, :2] = 1  # frame 0: top-left quarter
    masks[0, 0, 1] = 1          # frame 1: all
    m_gt, valid = mask_targets(masks, None, (2, 2, 2))
    assert m_gt.shape == (1, 1, 2, 2, 2) and valid.all()
    assert m_gt[0, 0, 0].tolist() == [[1.0, 0.5], [0.5, 0.5]]  # (1 + 1) / 2 and (0 + 1) / 2
    assert m_gt[0, 0, 1].abs().sum() == 0


def test_frames_without_a_mask_are_left_out_not_background():
    masks = torch.ones(1, 1, 4, 4, 4, dtype=torch.bool)
    frame_valid = torch.tensor([[[True, False, False, False]]])
    m_gt, valid = mask_targets(masks, frame_valid, (2, 4, 4))
    assert valid.tolist() == [[[True, False]]]
    assert torch.all(m_gt[0, 0, 0] == 1.0)  # the frame without a mask did not pull it to 0.5
    with pytest.raises(ValueError, match="cannot be grouped"):
        mask_targets(masks, None, (3, 4, 4))


def test_attention_loss_is_mean_abs_difference_over_valid_slots():
    attn = torch.full((1, 2, 2, 2, 2), 0.25)
    target = torch.zeros_like(attn)
    target[0, 1] = 1.0
    assert attention_loss(attn, attn.clone()) == 0
    assert attention_loss(attn, target).item() == pytest.approx((0.25 + 0.75) / 2)
    assert attention_loss(attn, target, kind="l2").item() == pytest.approx((0.0625 + 0.5625) / 2)
    valid = torch.tensor([[[True, True], [False, False]]])
    assert attention_loss(attn, target, valid).item() == pytest.approx(0.25)
    none = attention_loss(attn.requires_grad_(), target, torch.zeros(1, 2, 2, dtype=torch.bool))
    assert none.item() == 0 and none.requires_grad
    with pytest.raises(ValueError, match="valid expected"):
        attention_loss(attn, target, torch.ones(1, 2, dtype=torch.bool))


def test_attention_loss_moves_with_the_mask():
    attn = torch.zeros(1, 1, 1, 4, 4)
    attn[..., :2, :2] = 1.0
    attn.requires_grad_()
    on = torch.zeros(1, 1, 1, 4, 4)
    on[..., :2, :2] = 1.0
    moved = torch.roll(on, shifts=2, dims=-1)
    assert attention_loss(attn, on).item() == 0
    loss = attention_loss(attn, moved)
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert (attn.grad[..., :2, 2:] < 0).all() and (attn.grad[..., :2, :2] > 0).all()


def test_transitions_in_frames_become_floored_snippets():
    got = snippet_transitions(torch.tensor([[34, 71], [-3, 140]]), 5, 20)
    assert got.tolist() == [[6, 14], [0, 19]]


@pytest.mark.parametrize("lq", [1, 3, 5, 6, 9, 20])
def test_soft_labels_are_distributions_peaking_in_their_step(lq):
    trans = torch.tensor([[6, 14], [3, 17]])
    t = soft_labels(trans, 20, lq)
    assert t.shape == (2, lq, 20)
    assert torch.allclose(t.sum(-1), torch.ones(2, lq), atol=1e-6)
    for b, row in enumerate(trans.tolist()):
        centres = step_centres(row, 20, lq)
        assert len(centres) == lq and centres == sorted(centres)
        for m, mu in enumerate(centres):
            peak = int(t[b, m].argmax())
            assert abs(5 * peak + 3.5 - mu) <= 2.5 + 1e-6  # the snippet whose middle is nearest mu


def test_steps_respect_the_transitions():
    centres = step_centres([6, 14], 20, 6)  # stages: frames [0, 30), [30, 70), [70, 103)
    assert centres == pytest.approx([7.5, 22.5, 40.0, 60.0, 78.25, 94.75])
    assert step_centres([6, 14], 20, 1) == [51.5]


def test_centre_choice_shifts_the_labels():
    trans = torch.tensor([[6, 14]])
    peaks = {c: soft_labels(trans, 20, 6, centre=c)[0].argmax(-1).tolist() for c in ("left", "middle", "right")}
    # step 4 is centred on frame 78.25: snippet 16 starts at 80, 15's middle is 78.5, 14 ends at 77
    assert (peaks["left"][4], peaks["middle"][4], peaks["right"][4]) == (16, 15, 14)
    wide = soft_labels(trans, 20, 6, sigma=3.0)[0, 2].max()
    assert wide < soft_labels(trans, 20, 6)[0, 2].max()
    with pytest.raises(ValueError, match="must not come after"):
        soft_labels(torch.tensor([[9, 4]]), 20, 6)


def test_temporal_loss_is_zero_when_attention_equals_labels():
    t = soft_labels(torch.tensor([[6, 14], [2, 10]]), 20, 6)
    assert temporal_loss(t, t.clone(), t).abs().item() < 1e-6
    uniform = torch.full_like(t, 1 / 20)
    loss = temporal_loss(uniform, t, t)
    kl = (torch.xlogy(t, t) - t * uniform.log()).sum(-1).mean()
    assert loss.item() == pytest.approx(kl.item(), rel=1e-5)
    assert temporal_loss(uniform, t, t, valid=torch.tensor([False, False])).item() == 0
    half = temporal_loss(uniform, t, t, valid=torch.tensor([True, False]))
    assert half.item() == pytest.approx((torch.xlogy(t[0], t[0]) - t[0] * uniform[0].log()).sum(-1).mean().item(), rel=1e-5)
    with pytest.raises(ValueError, match="valid expected"):
        temporal_loss(uniform, t, t, valid=torch.tensor([True]))


def test_score_loss_is_squared_error():
    assert score_loss(torch.tensor([80.0, 70.0]), torch.tensor([82.0, 70.0])).item() == 2.0
