"""Rendering in pieces (while speech still arrives) gives exactly the frames of rendering at once."""

from __future__ import annotations

import numpy as np

from avatar.speech.timeline import Phoneme, Speech
from avatar.talk.builtin.engine import BuiltinEngine
from avatar.talk.engine import TalkOptions
from avatar.talk.builtin.life import activity_margin
from avatar.talk.builtin.mouth_track import LOOKAHEAD, frame_count


def speech() -> Speech:
    rng = np.random.default_rng(5)
    symbols = ["ɑ", "m", "i", " ", "u", "f", "æ", "b", "t", "ə"]
    phonemes, t = [], 0.0
    for _ in range(60):
        length = float(rng.uniform(0.05, 0.3))
        phonemes.append(Phoneme(str(rng.choice(symbols)), t, t + length))
        t += length
    return Speech(np.zeros(int(t * 16000), np.float32), 16000, phonemes)


def test_weights_in_pieces_equal_weights_at_once():
    whole = speech()
    options = TalkOptions(seed=4)
    engine = BuiltinEngine()
    total = frame_count(whole.duration, options.fps)
    at_once = engine.weights(whole, options, range(total), total)

    pieces, done = [], 0
    for known in np.arange(1.0, whole.duration, 0.7):
        # Only the timeline up to `known` seconds exists yet.
        partial = Speech(np.zeros(0, np.float32), 16000, [p for p in whole.phonemes if p.end <= known])
        ready = int(np.floor((known - LOOKAHEAD) * options.fps)) - activity_margin(options.fps)
        if ready > done:
            pieces.append(engine.weights(partial, options, range(done, ready)))
            done = ready
    pieces.append(engine.weights(whole, options, range(done, total), total))
    assert len(pieces) > 5
    assert np.array_equal(np.concatenate(pieces), at_once)
