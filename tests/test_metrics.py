"""Strict accuracy: ties and silent outputs are wrong (never class 0), reported separately."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nwave_core.metrics import Decisions, accuracy, accuracy_population, decisions, predict


def test_silent_outputs_are_never_class_0():
    # the examples: argmax credited all-zero counts to class 0 (0.5, and 1.0 when every
    # label is 0)
    assert accuracy(torch.zeros(4, 10, 2), torch.tensor([0, 0, 1, 1])) == 0.0
    assert accuracy(torch.zeros(4, 10, 2), torch.tensor([0, 0, 0, 0])) == 0.0
    assert accuracy(torch.zeros(3, 5, 1), torch.tensor([0, 0, 0])) == 0.0  # one output, silent
    assert decisions(torch.zeros(4, 2), torch.tensor([0, 0, 1, 1]),
                     silent_if_zero=True) == Decisions(correct=0, wrong=0, undecided=4)


def test_ties_are_wrong_and_a_unique_maximum_decides():
    spikes = torch.zeros(4, 3, 3)
    spikes[0, :, 1] = 1                     # class 1 alone: correct
    spikes[1, :2, 0] = 1; spikes[1, :2, 2] = 1  # tie 0/2: undecided
    spikes[2, 0, 2] = 1                     # class 2 alone, target 0: wrong
    spikes[3, :, :] = 1                     # every output equal: undecided
    targets = torch.tensor([1, 0, 0, 0])
    assert accuracy(spikes, targets) == 0.25
    assert decisions(spikes.sum(1), targets, silent_if_zero=True) == Decisions(1, 1, 2)
    assert predict(spikes.sum(1)).tolist() == [1, -1, 2, -1]


def test_membrane_scores_tie_but_are_never_silent():
    scores = torch.tensor([[0.0, -1.0], [-2.0, -2.0], [0.0, 0.0]])
    assert predict(scores).tolist() == [0, -1, -1]
    assert predict(torch.zeros(2, 1)).tolist() == [0, 0]
    assert predict(torch.zeros(2, 1), silent_if_zero=True).tolist() == [-1, -1]


def test_population_accuracy_is_strict():
    spikes = torch.zeros(3, 4, 6)
    spikes[0, :, 0:2] = 1  # class 0 population fires
    spikes[1, :, 2] = 1; spikes[1, :, 5] = 1  # classes 1 and 2 tie
    targets = torch.tensor([0, 1, 0])  # sample 2 is silent
    assert accuracy_population(spikes, targets, 3) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="7 outputs cannot be split into 3 equal class populations"):
        accuracy_population(torch.zeros(1, 2, 7), torch.tensor([0]), 3)


def test_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"scores \[B, C\], got shape \[3\]"):
        predict(torch.zeros(3))
    with pytest.raises(ValueError, match=r"targets must be \[B\] = \[2\], got \[3\]"):
        decisions(torch.zeros(2, 2), torch.zeros(3, dtype=torch.long))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), min_size=3, max_size=3), min_size=1, max_size=12),
       st.data())
def test_accuracy_is_the_share_of_unique_correct_maxima(counts, data):
    targets = data.draw(st.lists(st.integers(0, 2), min_size=len(counts), max_size=len(counts)))
    scores = torch.tensor(counts, dtype=torch.float32)
    spikes = torch.zeros(len(counts), 3, 3)
    for b, row in enumerate(counts):  # spread each count over 3 time steps
        for c, n in enumerate(row):
            spikes[b, :n, c] = 1
    expected = sum(
        1 for row, t in zip(counts, targets, strict=True)
        if row[t] > 0 and all(row[t] > v for c, v in enumerate(row) if c != t)
    ) / len(counts)
    assert accuracy(spikes, torch.tensor(targets)) == pytest.approx(expected)
    d = decisions(scores, torch.tensor(targets), silent_if_zero=True)
    assert d.total == len(counts) and d.accuracy == pytest.approx(expected)
