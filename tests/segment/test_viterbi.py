"""Viterbi smoothing: the fast switch-penalty path against a plain reference."""

import math

import numpy as np
import pytest

from speechmusic.segment.viterbi import switch_penalty_transition, viterbi


def _reference(log_emission: np.ndarray, trans: np.ndarray) -> np.ndarray:
    n, k = log_emission.shape
    score = log_emission[0] - math.log(k)
    back = np.zeros((n, k), dtype=np.int64)
    for t in range(1, n):
        cand = score[:, None] + trans
        back[t] = cand.argmax(axis=0)
        score = cand.max(axis=0) + log_emission[t]
    path = [int(score.argmax())]
    for t in range(n - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return np.array(path[::-1])


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("exponent", [0.5, 80.0, 150.0])
def test_switch_penalty_path_equals_the_generic_recursion(k, exponent):
    rng = np.random.default_rng(k)
    probs = np.repeat(rng.dirichlet(np.full(k, 0.3), size=300), 7, axis=0)
    probs = 0.9 * probs + 0.1 * rng.dirichlet(np.ones(k), size=len(probs))
    trans = switch_penalty_transition(exponent, k)
    np.testing.assert_array_equal(viterbi(np.log(probs), trans), _reference(np.log(probs), trans))


def test_ties_go_to_the_lowest_state_like_argmax():
    emission = np.log(np.full((50, 3), 1 / 3))  # the original's 0.5-style undecided patches
    trans = switch_penalty_transition(80.0, 3)
    np.testing.assert_array_equal(viterbi(emission, trans), _reference(emission, trans))
    assert (viterbi(emission, trans) == 0).all()


def test_other_transition_matrices_use_the_generic_loop():
    rng = np.random.default_rng(0)
    emission = np.log(rng.dirichlet(np.ones(3), size=200))
    trans = np.log(np.array([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]))
    np.testing.assert_array_equal(viterbi(emission, trans), _reference(emission, trans))


@pytest.mark.parametrize("k", [2, 3])
def test_two_and_three_states_keep_the_references_ties_and_impossible_states(k):
    """The 2- and 3-state paths are written out; on tied scores (integer log emissions, a free
    switch) and states that cannot be (-inf) they still follow the reference step by step."""
    rng = np.random.default_rng(k)
    ties = rng.integers(-3, 1, size=(400, k)).astype(float)
    impossible = np.where(rng.random((400, k)) < 0.2, -np.inf, rng.normal(size=(400, k)))
    for emission in (ties, impossible):
        for cost in (0.0, 1.0, 3.0):
            trans = np.full((k, k), -cost)
            np.fill_diagonal(trans, 0.0)
            np.testing.assert_array_equal(viterbi(emission, trans), _reference(emission, trans))
