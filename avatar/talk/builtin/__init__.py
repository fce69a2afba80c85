"""The built-in animation engine: landmark-driven warping of the portrait, no learned weights.

`engine.py` (the engine and its precomputed `PortraitRig`), `rig.py` (warp fields),
`mouth_track.py` (mouth parameters per frame from phonemes or audio), `mouth_rest.py`
(the closed rest pose), `mouth_interior.py` (teeth, tongue and cavity), `life.py`
(blinks and head motion).
"""
