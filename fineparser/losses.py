"""Losses of Uni-FineParser (Eqs. 3, 4, 6, 9) and the targets they compare with.

``L = L_A + L_T + L_E`` (Eq. 8)::

    m_gt, valid = mask_targets(masks, frame_valid, out.query.attention.shape[-3:])
    l_a = attention_loss(out.query.attention, m_gt, valid)          # Eq. 4 (and the exemplar's)
    t = soft_labels(snippet_transitions(trans_frames, 5, 20), 20, 6) # (B, Lq, N)
    l_t = temporal_loss(out.query.a1, out.query.a2, t)                # Eq. 6
    l_e = score_loss(out.y_hat_raw, y_query)                          # Eq. 9 (DD: y / difficulty)

Readings of the paper (``paper-notes.md`` rows 3-5, 7, 13, 14):

- Eq. 3 sums two adjacent frame masks (values in [0, 2]) while A lies in [0, 1]; we average the
  frames of each group instead, so ``M_gt`` is the foreground fraction. A group is T / T_s
  consecutive frames (2 at stage 2; the same rule covers stages 1 and 3 of Table 9). Frames
  without a mask are left out of their group's average; a group without any mask is invalid and
  contributes no loss (it is not treated as background).
- Eq. 4: the norm of a scalar difference is its absolute value; the normaliser ``T1 W1 H1`` is
  read as the size of A (T_s H_s W_s): L_A is the mean of |A - M_gt| over valid cells
  (``kind="l2"``: squared difference).
- Transitions in frames become snippets as ``floor(t / alpha)``, clipped to [0, N - 1].
- Soft labels T: see :func:`soft_labels`. Eq. 6 is KL(T_m || A_m) per query m, averaged over
  queries and videos, for A1 and for A2.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

_EPS = 1e-8
_CENTRE_FRACTION = {"left": 0.0, "middle": 0.5, "right": 1.0}


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` weighted by 0/1 ``weights``; a graph-connected 0 when all are 0."""
    total = weights.sum()
    return (values * weights).sum() / total.clamp_min(1.0)


def mask_targets(masks: torch.Tensor, frame_valid: torch.Tensor | None,
                 size_thw: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """M_gt of Eq. 3: frame masks grouped in time and average-pooled to the attention's size.

    Args:
        masks: (B, N, T, H, W) per-frame foreground masks (bool, uint8 0/1 or float in [0, 1]).
        frame_valid: (B, N, T) bool, False where a frame has no mask; None means all valid.
        size_thw: (T_s, H_s, W_s) of the SAP attention, e.g. (4, 56, 56); T must be a multiple of T_s.

    Returns:
        ``(m_gt, valid)``: (B, N, T_s, H_s, W_s) float in [0, 1] and (B, N, T_s) bool.

    Example:
        >>> m_gt, valid = mask_targets(torch.ones(1, 20, 8, 224, 224), None, (4, 56, 56))
    """
    if masks.ndim != 5:
        raise ValueError(f"masks: expected (B, N, T, H, W), got {tuple(masks.shape)}")
    b, n, t, h, w = masks.shape
    t_s, h_s, w_s = (int(v) for v in size_thw)
    if t % t_s:
        raise ValueError(f"mask_targets: T={t} frames cannot be grouped into T_s={t_s} steps")
    if frame_valid is None:
        frame_valid = torch.ones(b, n, t, dtype=torch.bool, device=masks.device)
    if tuple(frame_valid.shape) != (b, n, t):
        raise ValueError(f"frame_valid: expected {(b, n, t)}, got {tuple(frame_valid.shape)}")
    group = t // t_s
    weight = frame_valid.to(torch.float32).reshape(b * n, t_s, group)
    frames = masks.to(torch.float32).reshape(b * n, t_s, group, h, w)
    count = weight.sum(dim=2)
    mean = (frames * weight[..., None, None]).sum(dim=2) / count.clamp_min(1.0)[..., None, None]
    m_gt = F.adaptive_avg_pool2d(mean, (h_s, w_s)).reshape(b, n, t_s, h_s, w_s)
    return m_gt, (count > 0).reshape(b, n, t_s)


def attention_loss(attention: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None,
                   kind: str = "l1") -> torch.Tensor:
    """L_A (Eq. 4): mean distance between A and M_gt over the valid cells.

    Args:
        attention: A (B, N, T_s, H_s, W_s).
        target: M_gt, same shape.
        valid: (B, N, T_s) bool; None means all valid. Invalid slots contribute nothing.
        kind: "l1" (|A - M_gt|, the paper's norm) or "l2" (squared).

    Returns:
        Scalar loss (0 with a gradient path when nothing is valid).
    """
    if attention.shape != target.shape:
        raise ValueError(f"attention_loss: attention {tuple(attention.shape)} and target "
                         f"{tuple(target.shape)} differ")
    if kind not in ("l1", "l2"):
        raise ValueError(f"attention_loss: kind expected 'l1' or 'l2', got {kind!r}")
    diff = attention - target
    per_slot = (diff.abs() if kind == "l1" else diff.square()).mean(dim=(-2, -1))
    if valid is None:
        return per_slot.mean()
    if valid.shape != per_slot.shape:
        raise ValueError(f"attention_loss: valid expected {tuple(per_slot.shape)}, got {tuple(valid.shape)}")
    return _weighted_mean(per_slot, valid.to(per_slot.dtype))


def snippet_transitions(transitions_frame: torch.Tensor, stride: int, n_snippets: int) -> torch.Tensor:
    """Step transitions from frames of the sampled window to snippets: floor(t / alpha), clipped.

    Example:
        >>> snippet_transitions(torch.tensor([[34, 71]]), 5, 20)   # tensor([[6, 14]])
    """
    return torch.div(transitions_frame, stride, rounding_mode="floor").long().clamp(0, n_snippets - 1)


def _steps_per_stage(lengths: list[float], lq: int) -> list[int]:
    """Split Lq steps over 3 stages: Lq / 3 each, else 1 each plus the rest by stage length."""
    if lq % 3 == 0:
        return [lq // 3] * 3
    extra = lq - 3
    total = sum(lengths)
    shares = [extra * length / total if total > 0 else extra / 3 for length in lengths]
    counts = [int(s) for s in shares]
    order = sorted(range(3), key=lambda i: (-(shares[i] - counts[i]), i))  # largest remainder
    for i in order[: extra - sum(counts)]:
        counts[i] += 1
    return [1 + c for c in counts]


def step_centres(transitions_snippet: Sequence[float], n_snippets: int, lq: int, stride: int = 5,
                 snippet_frames: int = 8) -> list[float]:
    """Centres mu_m (in frames of the sampled window) of the Lq steps of one video.

    The frame axis [0, L), L = stride * (N - 1) + snippet_frames, is cut at the two transitions
    (snippet s starts at frame stride * s) into 3 stages; each stage is split evenly into Lq / 3
    steps (Lq not a multiple of 3: one step per stage plus the rest in proportion to stage
    length; Lq < 3: the whole axis split evenly, as there are fewer steps than stages).
    """
    length = float(stride * (n_snippets - 1) + snippet_frames)
    if lq < 3:
        bounds = [[length * m / lq, length * (m + 1) / lq] for m in range(lq)]
        return [(a + b) / 2 for a, b in bounds]
    cuts = [0.0, stride * float(transitions_snippet[0]), stride * float(transitions_snippet[1]), length]
    stages = [(cuts[i], cuts[i + 1]) for i in range(3)]
    centres = []
    for (start, end), k in zip(stages, _steps_per_stage([e - s for s, e in stages], lq)):
        width = (end - start) / k
        centres.extend(start + width * (j + 0.5) for j in range(k))
    return centres


def soft_labels(transitions_snippet: torch.Tensor, n_snippets: int, lq: int, centre: str = "middle",
                sigma: float = 1.3, stride: int = 5, snippet_frames: int = 8) -> torch.Tensor:
    """Temporal soft labels T from the two step transitions (Sec. 3.2, Table 11).

    Snippet i is represented by one of its frames, ``c_i = stride * i + f * (snippet_frames - 1)``
    with f = 0 / 0.5 / 1 for ``centre`` = left / middle / right. Step m, centred at mu_m (see
    :func:`step_centres`), gets ``exp(-((c_i - mu_m) / stride)^2 / (2 sigma^2))`` over the
    snippets (sigma in snippets, 1.3 in the paper), normalised to sum to 1 over i.

    Args:
        transitions_snippet: (B, 2) transitions in snippets (see :func:`snippet_transitions`),
            first <= second.
        n_snippets: N.
        lq: Number of steps (queries).
        centre: "left", "middle" or "right".
        sigma: Standard deviation in snippets.
        stride, snippet_frames: alpha and beta of the sampling.

    Returns:
        (B, Lq, N): the paper's T (N x Lq) transposed, so ``T[b, m]`` is step m's distribution
        over snippets, the layout of A1 and A2.
    """
    if centre not in _CENTRE_FRACTION:
        raise ValueError(f"soft_labels: centre expected one of {sorted(_CENTRE_FRACTION)}, got {centre!r}")
    trans = torch.as_tensor(transitions_snippet)
    if trans.ndim != 2 or trans.shape[1] != 2:
        raise ValueError(f"transitions_snippet: expected (B, 2), got {tuple(trans.shape)}")
    if bool((trans[:, 0] > trans[:, 1]).any()):
        raise ValueError("transitions_snippet: the first transition must not come after the second")
    positions = stride * torch.arange(n_snippets, dtype=torch.float64) \
        + _CENTRE_FRACTION[centre] * (snippet_frames - 1)
    mus = torch.tensor([step_centres(row.tolist(), n_snippets, lq, stride, snippet_frames)
                        for row in trans], dtype=torch.float64)  # (B, Lq)
    z = (positions[None, None, :] - mus[:, :, None]) / stride
    weights = torch.exp(-z.square() / (2 * sigma ** 2))
    labels = weights / weights.sum(dim=-1, keepdim=True)
    return labels.to(torch.float32)


def temporal_loss(a1: torch.Tensor, a2: torch.Tensor, targets: torch.Tensor,
                  valid: torch.Tensor | None = None) -> torch.Tensor:
    """L_T (Eq. 6) = KL(T || A1) + KL(T || A2), each averaged over queries and videos.

    Args:
        a1, a2: (B, L, N) attention rows (each sums to 1 over N).
        targets: (B, L, N) soft labels from :func:`soft_labels`.
        valid: (B,) bool, False for videos without step transitions (e.g. MTL-AQA); None = all.
    """
    if not a1.shape == a2.shape == targets.shape:
        raise ValueError(f"temporal_loss: shapes differ: A1 {tuple(a1.shape)}, A2 {tuple(a2.shape)}, "
                         f"T {tuple(targets.shape)}")
    targets = targets.to(a1.dtype)
    entropy_term = torch.xlogy(targets, targets)

    def kl(attn: torch.Tensor) -> torch.Tensor:  # (B,) mean over queries of KL(T_m || A_m)
        return (entropy_term - targets * attn.clamp_min(_EPS).log()).sum(dim=-1).mean(dim=-1)

    per_video = kl(a1) + kl(a2)
    if valid is None:
        return per_video.mean()
    if valid.shape != per_video.shape:
        raise ValueError(f"temporal_loss: valid expected {tuple(per_video.shape)}, got {tuple(valid.shape)}")
    return _weighted_mean(per_video, valid.to(per_video.dtype))


def score_loss(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """L_E (Eq. 9): squared error, averaged over the batch.

    In the DD setting compare ``out.y_hat_raw`` with ``score / difficulty``.
    """
    if y_pred.shape != y_true.shape:
        raise ValueError(f"score_loss: y_pred {tuple(y_pred.shape)} and y_true {tuple(y_true.shape)} differ")
    return F.mse_loss(y_pred, y_true.to(y_pred.dtype))
