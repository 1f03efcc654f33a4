"""Viterbi smoothing and energy-based activity detection, as inaSpeechSegmenter 0.6.8 does them.

* Activity: a frame is active when its log energy exceeds the mean log energy of the file (finite
  frames only) plus ``log(ratio)``; the raw decision is smoothed by a two-state Viterbi with
  emissions ``log(1 - 1e-10)`` / ``log(1e-10)``, switching cost ``150 ln 10``, staying-inactive
  cost 5 and uniform initial probabilities.
* Class smoothing: a Viterbi over the network's log-probabilities with switching cost
  ``viterbi_arg * ln 10`` (150 for 'sm', 80 for 'smn' and gender), free self-transitions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["viterbi", "energy_activity", "fill_short_gaps", "runs", "switch_penalty_transition"]

_EPS = 1e-10


def switch_penalty_transition(exponent: float, n_states: int) -> np.ndarray:
    """Log transition matrix: 0 on the diagonal, ``-exponent * ln 10`` elsewhere."""
    trans = np.full((n_states, n_states), -exponent * math.log(10.0))
    np.fill_diagonal(trans, 0.0)
    return trans


def viterbi(log_emission: np.ndarray, log_transition: np.ndarray,
            log_initial: np.ndarray | None = None) -> np.ndarray:
    """Most probable state path. ``log_emission`` ``[T, K]``, ``log_transition`` ``[K, K]``
    (from row to column); returns ``[T]`` int64. Ties go to the lowest state, as NumPy's argmax."""
    emission = np.asarray(log_emission, dtype=np.float64)
    n_steps, k = emission.shape
    if n_steps == 0:
        return np.zeros(0, dtype=np.int64)
    trans = np.asarray(log_transition, dtype=np.float64)
    initial = np.full(k, -math.log(k)) if log_initial is None else np.asarray(log_initial, np.float64)
    off = trans[~np.eye(k, dtype=bool)]
    if k <= 8 and not trans.diagonal().any() and off.size and (off == off[0]).all():
        return _switch_penalty_viterbi(emission, -float(off[0]), initial)
    back = np.empty((n_steps, k), dtype=np.int8 if k < 128 else np.int64)
    score = emission[0] + initial
    cols = np.arange(k)
    for t in range(1, n_steps):
        cand = score[:, None] + trans  # [from, to]
        best = cand.argmax(axis=0)
        back[t] = best
        score = cand[best, cols] + emission[t]
    path = np.empty(n_steps, dtype=np.int64)
    path[-1] = int(score.argmax())
    for t in range(n_steps - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _switch_penalty_viterbi(emission: np.ndarray, cost: float, initial: np.ndarray) -> np.ndarray:
    """:func:`viterbi` for free self-transitions and one ``cost`` for every switch (the class
    smoothing's matrix), in plain Python floats: with 2 or 3 states NumPy's per-step overhead is
    most of the generic loop's time (about 3 us a step against under 1 us here). Same ties."""
    n, k = emission.shape
    rows = emission.tolist()
    states = range(k)
    score = [rows[0][j] + float(initial[j]) for j in states]
    back = bytearray(n * k)
    if k in (2, 3):  # the loop below written out: the same float operations, 2-5x faster
        score = _unrolled_switch_steps(rows, cost, score, back)
    else:
        for t in range(1, n):
            switched = [v - cost for v in score]
            e = rows[t]
            new = []
            base = t * k
            for j in states:
                best, arg = -math.inf, 0
                for i in states:  # first maximum, as argmax
                    v = score[i] if i == j else switched[i]
                    if v > best:
                        best, arg = v, i
                back[base + j] = arg
                new.append(best + e[j])
            score = new
    path = np.empty(n, dtype=np.int64)
    state = int(np.argmax(score))
    path[-1] = state
    for t in range(n - 1, 0, -1):
        state = back[t * k + state]
        path[t - 1] = state
    return path


def _unrolled_switch_steps(rows: list, cost: float, score: list, back: bytearray) -> list:
    """The steps of :func:`_switch_penalty_viterbi`'s loop for 2 or 3 states, written out: each
    candidate is the same float (a score, or a score minus ``cost``) compared in the same order
    against the same running best, so ``back`` and the final scores (returned) are the general
    loop's, ties (the earlier state wins) and non-finite scores included."""
    n, k = len(rows), len(score)
    inf = math.inf
    if k == 2:
        s0, s1 = score
        for t in range(1, n):
            w0, w1 = s0 - cost, s1 - cost
            e0, e1 = rows[t]
            b, a = -inf, 0  # into state 0: s0, w1
            if s0 > b:
                b = s0
            if w1 > b:
                b, a = w1, 1
            n0 = b + e0
            back[2 * t] = a
            b, a = -inf, 0  # into state 1: w0, s1
            if w0 > b:
                b = w0
            if s1 > b:
                b, a = s1, 1
            back[2 * t + 1] = a
            s0, s1 = n0, b + e1
        final = [s0, s1]
    else:
        s0, s1, s2 = score
        for t in range(1, n):
            w0, w1, w2 = s0 - cost, s1 - cost, s2 - cost
            e0, e1, e2 = rows[t]
            base = 3 * t
            b, a = -inf, 0  # into state 0: s0, w1, w2
            if s0 > b:
                b = s0
            if w1 > b:
                b, a = w1, 1
            if w2 > b:
                b, a = w2, 2
            n0 = b + e0
            back[base] = a
            b, a = -inf, 0  # into state 1: w0, s1, w2
            if w0 > b:
                b = w0
            if s1 > b:
                b, a = s1, 1
            if w2 > b:
                b, a = w2, 2
            n1 = b + e1
            back[base + 1] = a
            b, a = -inf, 0  # into state 2: w0, w1, s2
            if w0 > b:
                b = w0
            if w1 > b:
                b, a = w1, 1
            if s2 > b:
                b, a = s2, 2
            back[base + 2] = a
            s0, s1, s2 = n0, n1, b + e2
        final = [s0, s1, s2]
    return final


def _two_state_viterbi(active: np.ndarray, stay0: float, switch: float) -> np.ndarray:
    """:func:`viterbi` specialised to the activity detector's binary emissions, in plain Python
    floats (several times faster than the generic loop on millions of frames)."""
    hit, miss = math.log(1 - _EPS), math.log(_EPS)
    n = len(active)
    back0 = bytearray(n)
    back1 = bytearray(n)
    flags = active.tolist()
    s0 = (hit if not flags[0] else miss) - math.log(2)
    s1 = (hit if flags[0] else miss) - math.log(2)
    for t in range(1, n):
        a0, b0 = s0 + stay0, s1 + switch   # into state 0 from 0 / from 1
        a1, b1 = s0 + switch, s1           # into state 1 from 0 / from 1
        if a0 >= b0:
            n0 = a0
        else:
            n0 = b0
            back0[t] = 1
        if a1 >= b1:
            n1 = a1
        else:
            n1 = b1
            back1[t] = 1
        if flags[t]:
            s0, s1 = n0 + miss, n1 + hit
        else:
            s0, s1 = n0 + hit, n1 + miss
    path = np.empty(n, dtype=np.int64)
    state = 0 if s0 >= s1 else 1
    path[-1] = state
    for t in range(n - 1, 0, -1):
        state = back1[t] if state else back0[t]
        path[t - 1] = state
    return path


def energy_activity(log_energy: np.ndarray, *, ratio: float = 0.03) -> np.ndarray:
    """Smoothed activity ``[frames]`` (bool) from per-frame log energies (10 ms frames)."""
    loge = np.asarray(log_energy, dtype=np.float64)
    finite = np.isfinite(loge)
    if loge.size == 0:
        return np.zeros(0, dtype=bool)
    if not finite.any():
        return np.zeros(len(loge), dtype=bool)
    threshold = loge[finite].mean() + math.log(ratio)
    raw = loge > threshold
    return _two_state_viterbi(raw, stay0=-5.0, switch=-150 * math.log(10.0)).astype(bool)


def fill_short_gaps(active: np.ndarray, *, max_len: int) -> np.ndarray:
    """``active`` with every inactive run shorter than ``max_len`` points that lies between two
    active runs set active (runs at either end of the signal are kept)."""
    out = np.asarray(active, dtype=bool).copy()
    for flag, a, b in runs(out):
        if not flag and a > 0 and b < len(out) and b - a < max_len:
            out[a:b] = True
    return out


def runs(labels: Sequence | np.ndarray) -> list[tuple[object, int, int]]:
    """Runs of equal values: ``[(value, start, stop), ...]`` covering ``labels``."""
    arr = np.asarray(labels)
    if arr.size == 0:
        return []
    change = np.flatnonzero(arr[1:] != arr[:-1]) + 1
    bounds = np.concatenate([[0], change, [len(arr)]])
    return [(arr[a].item(), int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
