"""Face enhancement of frames: GFPGAN on the aligned face, optionally Real-ESRGAN on the rest.

What callers use:

- `check_installed(background_scale=None)`: raises the one-sentence "not installed"
  error (with the install command) before any work, for the face model and, when a
  background scale is asked, the matching upscaler.
- `FaceEnhancer.from_registry(background_scale=None)`: a context manager yielding a ready
  enhancer whose models stay loaded (and pinned in the registry) for the block.
- `FaceEnhancer.enhance(frame_rgb, landmarks68=None)`: one frame in, the same size out
  (or `scale` times larger). Without landmarks the largest face dlib finds is used; a
  frame without a face passes through (background still upscaled if asked).
- `FaceEnhancer.enhance_frames(frames, landmarks)`: the video-friendly variant: faces
  are run through GFPGAN `batch_size` at a time; the result says which frames had a face.
- `BackgroundUpscaler.upscale(image)` (`avatar.enhance.upscale`): Real-ESRGAN alone.

The network's noise is the checkpoint's fixed noise (see `avatar.enhance.stylegan2`),
so the same frame always gives the same output. On CUDA the registry loads the models
in float16; inputs follow the networks' dtype.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

import numpy as np
import torch

from avatar.enhance.face_align import AlignedFace, align_face, faces_to_tensor, five_points, paste_face, tensor_to_faces
from avatar.enhance.gfpgan import FaceRestorer
from avatar.enhance.models import FACE_MODEL, UPSCALER_MODELS
from avatar.enhance.upscale import BackgroundUpscaler, Tiling
from avatar.errors import InputError

MODES = ("face", "face+background")


def background_models(background_scale: Optional[int]) -> list[str]:
    if background_scale is None:
        return []
    if background_scale not in UPSCALER_MODELS:
        raise InputError(f"The background can be upscaled 2x or 4x, not {background_scale}x.")
    return [UPSCALER_MODELS[background_scale]]


def check_installed(background_scale: Optional[int] = None, registry=None) -> None:
    """Raise ModelNotInstalled (one sentence with the install command) if a needed model is missing."""
    if registry is None:
        from avatar.models.registry import get_registry

        registry = get_registry()
    for model_id in [FACE_MODEL, *background_models(background_scale)]:
        registry.require(model_id)


@dataclass
class EnhancedFrames:
    """Frames after enhancement, and for each whether a face was found and enhanced."""

    frames: list[np.ndarray]
    face_found: list[bool] = field(default_factory=list)

    @property
    def faces_lost(self) -> list[int]:
        """Indices of frames that passed through without a face."""
        return [index for index, found in enumerate(self.face_found) if not found]


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise InputError(f"Face enhancement takes 8-bit RGB frames (H, W, 3); this one is {frame.dtype} {frame.shape}.")
    return frame


def _largest_face_points(frame: np.ndarray) -> Optional[np.ndarray]:
    from avatar.face.detect import find_faces

    faces = find_faces(frame)
    return faces[0].landmarks if faces else None


class FaceEnhancer:
    """GFPGAN v1.4 on one face per frame, pasted back with a feathered mask; Real-ESRGAN on the rest if given."""

    def __init__(
        self,
        restorer: FaceRestorer,
        background: Optional[BackgroundUpscaler] = None,
        scale: float = 1.0,
        batch_size: int = 4,
    ):
        if scale <= 0:
            raise InputError(f"The output scale must be positive, not {scale}.")
        self.restorer = restorer.eval()
        self.background = background
        self.scale = scale
        self.batch_size = max(1, int(batch_size))

    @classmethod
    @contextmanager
    def from_registry(
        cls,
        background_scale: Optional[int] = None,
        registry=None,
        scale: float = 1.0,
        tiling: Tiling = Tiling(),
        batch_size: int = 4,
    ) -> Iterator["FaceEnhancer"]:
        """An enhancer on the registry's models; every model is checked to be installed before any is loaded."""
        if registry is None:
            from avatar.models.registry import get_registry

            registry = get_registry()
        check_installed(background_scale, registry)
        with ExitStack() as stack:
            restorer = stack.enter_context(registry.use(FACE_MODEL))
            background = None
            for model_id in background_models(background_scale):
                net = stack.enter_context(registry.use(model_id))
                device = str(next(net.parameters()).device)
                background = BackgroundUpscaler(net, tiling, device=device, half=next(net.parameters()).dtype == torch.float16)
            yield cls(restorer, background, scale=scale, batch_size=batch_size)

    @property
    def _device_dtype(self) -> tuple[torch.device, torch.dtype]:
        parameter = next(self.restorer.parameters())
        return parameter.device, parameter.dtype

    @torch.no_grad()
    def restore_faces(self, crops: np.ndarray) -> np.ndarray:
        """Aligned 512 px crops (B, 512, 512, 3) uint8 RGB -> restored crops, same shape, `batch_size` per pass."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (512, 512, 3) or crops.dtype != np.uint8:
            raise InputError(f"GFPGAN takes aligned 512x512 RGB crops; got {crops.dtype} {crops.shape}.")
        device, dtype = self._device_dtype
        out = []
        for start in range(0, len(crops), self.batch_size):
            x = faces_to_tensor(crops[start:start + self.batch_size]).to(device=device, dtype=dtype)
            out.append(tensor_to_faces(self.restorer(x)))
        return np.concatenate(out) if out else np.zeros((0, 512, 512, 3), np.uint8)

    def _base(self, frame: np.ndarray) -> Optional[np.ndarray]:
        """The upscaled background at the output scale, or None (the frame itself is resized)."""
        return None if self.background is None else self.background.upscale(frame, outscale=self.scale)

    def _plain(self, frame: np.ndarray) -> np.ndarray:
        """A frame without a face: only the background treatment (or a resize to the output scale)."""
        base = self._base(frame)
        if base is not None:
            return base
        if self.scale == 1:
            return frame.copy()
        import cv2

        size = (int(frame.shape[1] * self.scale), int(frame.shape[0] * self.scale))
        return cv2.resize(frame, size, interpolation=cv2.INTER_LANCZOS4)

    @staticmethod
    def _align(frame: np.ndarray, landmarks68: Optional[np.ndarray]) -> Optional[AlignedFace]:
        """The frame's face cut out, or None when there is none (or its points cannot be aligned)."""
        points = _largest_face_points(frame) if landmarks68 is None else landmarks68
        if points is None:
            return None
        five = five_points(points)  # malformed landmarks are the caller's error, not a lost face
        try:
            return align_face(frame, five)
        except InputError:
            return None

    def enhance(self, frame_rgb: np.ndarray, landmarks68: Optional[np.ndarray] = None) -> np.ndarray:
        """One (H, W, 3) uint8 RGB frame -> enhanced frame (H*scale, W*scale, 3); no face found: passed through."""
        return self.enhance_frames([frame_rgb], [landmarks68]).frames[0]

    def enhance_frames(
        self, frames: Sequence[np.ndarray], landmarks: Optional[Sequence[Optional[np.ndarray]]] = None
    ) -> EnhancedFrames:
        """Frames and their 68 landmarks (None entries: found with dlib) -> EnhancedFrames.

        For video, pass tracked (smoothed) landmarks: the same alignment through time
        keeps the restored face from jittering.
        """
        frames = [_check_frame(frame) for frame in frames]
        if landmarks is None:
            landmarks = [None] * len(frames)
        if len(landmarks) != len(frames):
            raise InputError(f"There are {len(frames)} frames but {len(landmarks)} sets of landmarks.")
        aligned = [self._align(frame, points) for frame, points in zip(frames, landmarks)]
        found = [face is not None for face in aligned]
        crops = np.stack([face.crop for face in aligned if face is not None]) if any(found) else np.zeros((0, 512, 512, 3), np.uint8)
        restored = iter(self.restore_faces(crops))
        result = []
        for frame, face in zip(frames, aligned):
            if face is None:
                result.append(self._plain(frame))
            else:
                result.append(paste_face(frame, next(restored), face.affine, self.scale, self._base(frame)))
        return EnhancedFrames(frames=result, face_found=found)
