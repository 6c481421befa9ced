"""The batch contract as assertions: what every packed batch must satisfy, checked without Python loops."""

from __future__ import annotations

import itertools

import numpy as np

from birdie_core.interfaces import IGNORE_INDEX, PackedBatch


def batch_segments(batch: PackedBatch) -> list[tuple[int, int, int, int]]:
    """``(row, start, end, segment)`` of every packed example, in row order."""
    out = []
    for row, seg in enumerate(batch.segment_ids):
        ids = np.flatnonzero(np.diff(seg, prepend=0, append=0)) if seg.any() else np.zeros(0, np.int64)
        for start, end in itertools.pairwise(ids):
            if seg[start] != 0:
                out.append((row, int(start), int(end), int(seg[start])))
    return out


def assert_batch_contract(batch: PackedBatch, num_arms: int | None = None) -> None:
    """Assert the batch contract (DESIGN §5) on every row of ``batch``; vectorised, so cheap to call often.

    Padding is at the end of a row and neutral; segments are numbered 1, 2, … in order; positions restart
    at 0 per segment; each segment is a bidirectional prefix (attention 1) followed by causal positions;
    labels are -100 on all prefix positions but the last, and every other position of a segment carries the
    next token of the segment as its label.
    """
    arrays = [getattr(batch, k) for k in PackedBatch.TENSOR_KEYS]
    shape = batch.input_ids.shape
    assert len(shape) == 2, f"a batch is 2-d, got shape {shape}"
    for k, a in zip(PackedBatch.TENSOR_KEYS, arrays):
        assert a.shape == shape, f"{k} has shape {a.shape}, input_ids {shape}"
        assert np.issubdtype(a.dtype, np.integer), f"{k} has dtype {a.dtype}"
    inp, lab, att, seg, pos = (a.astype(np.int64) for a in arrays)
    valid = seg != 0
    assert np.all(seg >= 0)
    assert np.all(inp[~valid] == batch.pad_id), "padding input must be the pad id"
    assert np.all(lab[~valid] == IGNORE_INDEX), "padding label must be -100"
    assert np.all(att[~valid] == 0) and np.all(pos[~valid] == 0), "padding attention/position must be 0"
    assert np.all(np.isin(att, (0, 1))), "attention_mask holds 0 and 1 only"
    assert np.all(np.diff(valid.astype(np.int8), axis=1) <= 0), "padding must be at the end of a row"
    assert np.all(inp[valid] != batch.pad_id), "the pad id must not appear inside a segment"
    # segments: 1, 2, 3 … each one contiguous run
    prev = np.concatenate([np.zeros((shape[0], 1), np.int64), seg[:, :-1]], axis=1)
    step = (seg - prev)[valid]
    assert np.all((step == 0) | (step == 1)), "segment ids must count up by one, run by run"
    starts = valid & (seg != prev)
    # positions restart at each segment and count up inside it
    prev_pos = np.concatenate([np.full((shape[0], 1), -1, np.int64), pos[:, :-1]], axis=1)
    assert np.all(pos[starts] == 0), "position_ids must restart at 0 for each segment"
    assert np.all(pos[valid & ~starts] == prev_pos[valid & ~starts] + 1), "position_ids must count up"
    # attention: a non-empty prefix of 1s, then 0s, within each segment
    assert np.all(att[starts] == 1), "each segment starts with a bidirectional prefix"
    prev_att = np.concatenate([np.zeros((shape[0], 1), np.int64), att[:, :-1]], axis=1)
    assert not np.any(valid & ~starts & (att == 1) & (prev_att == 0)), "prefix positions must come first"
    # labels: ignored exactly on the prefix positions that are not the last of the prefix
    nxt_same = np.zeros(shape, bool)
    nxt_same[:, :-1] = valid[:, :-1] & (seg[:, 1:] == seg[:, :-1])
    nxt_att = np.zeros(shape, np.int64)
    nxt_att[:, :-1] = att[:, 1:]
    ignored = valid & (att == 1) & nxt_same & (nxt_att == 1)
    assert np.all(lab[ignored] == IGNORE_INDEX), "prefix positions (but the last) carry no label"
    labelled = valid & ~ignored
    assert np.all(lab[labelled] != IGNORE_INDEX), (
        "the last prefix position and every target position need a label"
    )
    nxt_inp = np.zeros(shape, np.int64)
    nxt_inp[:, :-1] = inp[:, 1:]
    aligned = labelled & nxt_same
    assert np.array_equal(lab[aligned], nxt_inp[aligned]), (
        "label_ids[t] must be input_ids[t + 1] in a segment"
    )
    # metadata beside the batch
    n_segments = seg.max(axis=1)
    arms = np.asarray(batch.segment_arms)
    assert arms.ndim == 2 and arms.shape[0] == shape[0], f"segment_arms has shape {arms.shape}"
    assert arms.shape[1] >= max(1, int(n_segments.max(initial=0)))
    cols = np.arange(arms.shape[1])[None, :]
    used = cols < n_segments[:, None]
    assert np.all(arms[~used] == -1), "segment_arms is -1 where there is no segment"
    assert np.all(arms[used] >= 0), "every segment has an arm"
    positions = np.asarray(batch.arm_positions)
    assert positions.sum() == valid.sum(), "arm_positions must add up to the non-pad positions"
    if num_arms is not None:
        assert np.all(arms[used] < num_arms)
        assert positions.shape == (num_arms,)
        per_arm = np.bincount(arms[used].ravel(), minlength=num_arms)[:num_arms]
        assert np.all((per_arm > 0) == (positions > 0)), "arm_positions must match segment_arms"
