"""Object masks from a text prompt, with CLIPSeg from the model registry.

CLIPSeg gives a low-resolution relevance map for the prompt; it is scaled to the
image, passed through a sigmoid and thresholded. When nothing reaches the
threshold, the result says so and still carries a best guess (the most relevant
region), so the person can see what the model thought and choose another word,
a lower threshold, or a box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
from PIL import Image

from avatar.edit.options import MaskOptions, check_threshold
from avatar.errors import InputError
from avatar.progress import Progress, report, waiting_in_line

CLIPSEG_ID = "clipseg"
DEFAULT_THRESHOLD = MaskOptions().threshold  # declared in avatar.edit.options
# The best guess for an unmatched prompt keeps what scores at least this share of the peak.
BEST_GUESS_SHARE = 0.7


@dataclass
class TextMask:
    """The selection for a prompt: the mask, the per-pixel score, and whether it matched."""

    mask: np.ndarray  # bool HxW; the best guess when `matched` is False
    scores: np.ndarray  # float32 HxW in 0..1
    prompt: str
    threshold: float
    matched: bool
    best_score: float

    @property
    def notice(self) -> Optional[str]:
        """What to tell the user when the prompt matched nothing, else None."""
        if self.matched:
            return None
        return (
            f"Nothing in the image matched {self.prompt!r} (best score {self.best_score:.2f}, threshold "
            f"{self.threshold:.2f}); the mask shows the best guess. Try other words, a lower threshold, or a box."
        )


def scores_to_mask(scores: np.ndarray, threshold: float) -> tuple[np.ndarray, bool, float]:
    """Threshold a score map; when nothing passes, fall back to the top-scoring region."""
    best = float(scores.max(initial=0.0))
    mask = scores >= threshold
    if mask.any():
        return mask, True, best
    return scores >= best * BEST_GUESS_SHARE, False, best


def mask_from_text(
    image: np.ndarray,
    prompt: str,
    threshold: float = DEFAULT_THRESHOLD,
    model_id: str = CLIPSEG_ID,
    progress: Optional[Progress] = None,
) -> TextMask:
    """Select what `prompt` describes; raises ModelNotInstalled if CLIPSeg is missing."""
    import torch

    from avatar.models.registry import get_registry

    prompt = prompt.strip()
    if not prompt:
        raise InputError("Describe the object to select, for example 'the cup'.")
    check_threshold(threshold)
    height, width = image.shape[:2]
    report(progress, "loading segmenter", 0.0)
    with get_registry().use(model_id, on_wait=waiting_in_line(progress)) as bundle:
        report(progress, "segmenting", 0.3)
        inputs = bundle.processor(
            text=[prompt], images=[Image.fromarray(image[..., :3])], padding=True, return_tensors="pt"
        )
        device = next(bundle.model.parameters()).device
        inputs = {name: value.to(device) for name, value in inputs.items()}
        with torch.inference_mode():
            logits = bundle.model(**inputs).logits
    logits = logits.reshape(logits.shape[-2:]).float().cpu().numpy()
    scores = 1.0 / (1.0 + np.exp(-logits))
    scores = cv2.resize(scores.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    mask, matched, best = scores_to_mask(scores, threshold)
    report(progress, "done", 1.0)
    return TextMask(mask, scores, prompt, threshold, matched, best)
