"""Changing a sound's sample rate: one function for every place that needs another rate.

Polyphase filtering (scipy's `resample_poly`) by the ratio of the two rates reduced
by their greatest common divisor: exact for the rates sound comes in (8, 16, 22.05,
24, 44.1, 48 kHz), and linear in the length of the sound.
"""

from __future__ import annotations

import math

import numpy as np


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """`samples` at `rate` Hz as samples at `target` Hz (the same array when the rates are equal).

    The result has the input's float type; scipy is imported on first use, since
    it takes a while and many jobs never resample.
    """
    rate, target = int(rate), int(target)
    if rate == target:
        return samples
    from scipy.signal import resample_poly

    common = math.gcd(rate, target)
    return resample_poly(samples, target // common, rate // common)
