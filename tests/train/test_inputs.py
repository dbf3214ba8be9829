"""Inputs are cropped (and optionally zero-padded) to max_seconds the same way in training and inference."""

import numpy as np

from sertool.train.inputs import fit_length


def test_crop_pad_and_passthrough():
    x = np.arange(10.0).reshape(5, 2)
    assert fit_length(x, 3).tolist() == x[:3].tolist()
    assert fit_length(x, None) is x
    padded = fit_length(x[:2], 4, pad=True)
    assert padded.shape == (4, 2) and np.all(padded[2:] == 0) and np.all(padded[:2] == x[:2])
    assert fit_length(np.ones(3), 5, pad=True).tolist() == [1, 1, 1, 0, 0]  # waveforms (S,)
    assert fit_length(x[:2], 4).shape == (2, 2)  # no padding unless asked
