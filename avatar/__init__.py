"""Avatar Studio: talking-avatar videos and the image and video tools around them.

The package is UI-free: the Streamlit pages and the `avatar` command line are thin
layers over the task functions it exports.
"""

__version__ = "0.1.0"

from avatar import torchaudio_guard as _torchaudio_guard

_torchaudio_guard.install()
