"""Face enhancement: GFPGAN v1.4 for the face, Real-ESRGAN x2/x4 for the background (ports of the published models).

See `avatar.enhance.enhancer` for the API the talk, dub and video tools call.
"""

from avatar.enhance.enhancer import MODES, EnhancedFrames, FaceEnhancer, check_installed
from avatar.enhance.upscale import BackgroundUpscaler, Tiling

__all__ = ["MODES", "BackgroundUpscaler", "EnhancedFrames", "FaceEnhancer", "Tiling", "check_installed"]
