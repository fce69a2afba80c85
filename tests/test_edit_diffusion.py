"""Diffusion inpainting and text masks through the registry, with tiny models built here.

The models are random, so the pictures are noise; what is tested is the plumbing:
registry loading, sizes, seeds, progress, "only masked" crop and paste-back, and the
CLIPSeg score map turned into a mask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.edit.diffusion import masked_region, working_size
from avatar.edit.inpaint import InpaintOptions, inpaint, inpaint_methods, resolve_method
from avatar.edit.masks import mask_pad
from avatar.edit.shift import remove_object, shift_object
from avatar.edit.text_mask import mask_from_text, scores_to_mask
from avatar.errors import InputError, ModelNotInstalled
from tests.test_edit_scenes import disk_scene
from tests.tiny_models import save_tiny_clipseg, save_tiny_sd_inpaint

FAST = dict(steps=2, resolution=64)


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny-checkpoints")
    save_tiny_sd_inpaint(root / "dreamshaper8-inpaint")
    save_tiny_clipseg(root / "clipseg")
    return root


@pytest.fixture
def with_models(tiny_checkpoints, monkeypatch) -> Path:
    monkeypatch.setenv("AVATAR_CHECKPOINTS", str(tiny_checkpoints))
    return tiny_checkpoints


def test_sd_inpainting_through_the_registry(with_models):
    image, _, mask = disk_scene()
    stages: list[tuple[str, float]] = []
    result = inpaint(image, mask, "sd", InpaintOptions(prompt="a blue sky", **FAST), progress=lambda s, f: stages.append((s, f)))
    assert result.method == "sd" and result.engine == "dreamshaper8-inpaint" and result.seed == 0
    assert result.image.shape == image.shape and result.image.dtype == np.uint8
    assert (result.image[mask] != image[mask]).any()
    # Away from the (blurred) mask, the photo is untouched.
    far = ~mask_pad(mask, 12)
    assert np.array_equal(result.image[far], image[far])
    steps = [s for s, _ in stages if s.startswith("step ")]
    assert steps == ["step 1/2", "step 2/2"]
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_auto_prefers_an_installed_model_and_lists_the_missing_one(with_models):
    assert resolve_method("auto") == "dreamshaper8-inpaint"
    choices = {choice.id: choice for choice in inpaint_methods()}
    assert choices["dreamshaper8-inpaint"].installed
    assert not choices["sd2-inpaint"].installed and "avatar models pull sd2-inpaint" in choices["sd2-inpaint"].note
    assert choices["classical"].installed
    with pytest.raises(ModelNotInstalled, match="sd2-inpaint"):
        inpaint(*disk_scene()[::2], method="sd2-inpaint", options=InpaintOptions(**FAST))


def test_same_seed_same_picture_other_seed_other_picture(with_models):
    image, _, mask = disk_scene()
    first = inpaint(image, mask, "sd", InpaintOptions(seed=7, **FAST)).image
    again = inpaint(image, mask, "sd", InpaintOptions(seed=7, **FAST)).image
    other = inpaint(image, mask, "sd", InpaintOptions(seed=8, **FAST)).image
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_only_masked_paints_a_crop_and_leaves_the_rest_exactly(with_models):
    image, _, mask = disk_scene(center=(80, 70), radius=15)
    options = InpaintOptions(only_masked=True, masked_padding=16, mask_blur=30, **FAST)
    result = inpaint(image, mask, "sd", options)
    x0, y0, x1, y1 = masked_region(mask, 16)
    assert (x0, y0, x1, y1) == (49, 39, 112, 102)
    outside = np.ones(mask.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(result.image[outside], image[outside])
    assert (result.image[mask] != image[mask]).any()


def test_working_size_keeps_aspect_in_multiples_of_eight():
    assert working_size(1000, 500, 512) == (512, 256)
    assert working_size(63, 130, 512) == (248, 512)
    assert all(v % 8 == 0 for v in working_size(333, 777, 640))


def test_removal_and_shift_run_on_the_diffusion_model(with_models):
    image, _, mask = disk_scene()
    removed = remove_object(image, mask, options=InpaintOptions(prompt="a red cat", **FAST))
    assert removed.fill.engine == "dreamshaper8-inpaint"
    shifted = shift_object(image, mask, 30, 10, options=InpaintOptions(**FAST))
    assert shifted.fill.engine == "dreamshaper8-inpaint" and shifted.image.shape == image.shape


def test_text_mask_with_clipseg(with_models):
    image, _, _ = disk_scene()
    selection = mask_from_text(image, "a red face", threshold=0.5)
    assert selection.mask.shape == image.shape[:2] and selection.mask.dtype == bool
    assert selection.scores.shape == image.shape[:2]
    assert 0.0 <= selection.scores.min() <= selection.scores.max() <= 1.0
    assert selection.best_score == pytest.approx(float(selection.scores.max()))
    assert selection.matched == bool((selection.scores >= 0.5).any())
    # The same prompt gives the same map: the model runs in eval mode.
    assert np.array_equal(mask_from_text(image, "a red face", threshold=0.5).scores, selection.scores)


def test_text_that_matches_nothing_says_so_and_keeps_a_best_guess(with_models):
    image, _, _ = disk_scene()
    best = mask_from_text(image, "a cat").best_score
    unmatched = mask_from_text(image, "a cat", threshold=min(0.99999, (best + 1.0) / 2))
    assert not unmatched.matched
    assert unmatched.mask.any()
    assert "Nothing in the image matched 'a cat'" in unmatched.notice


def test_scores_to_mask_falls_back_to_the_top_region():
    scores = np.zeros((10, 10), np.float32)
    scores[2:4, 2:4] = 0.3
    scores[3, 3] = 0.35
    mask, matched, best = scores_to_mask(scores, 0.4)
    assert not matched and best == pytest.approx(0.35)
    assert mask.sum() == 4
    mask, matched, _ = scores_to_mask(scores, 0.32)
    assert matched and mask.sum() == 1


def test_text_mask_errors():
    image, _, _ = disk_scene()
    with pytest.raises(ModelNotInstalled, match="avatar models pull clipseg"):
        mask_from_text(image, "the cup")
    with pytest.raises(InputError, match="Describe"):
        mask_from_text(image, "   ")
    with pytest.raises(InputError, match="threshold"):
        mask_from_text(image, "cup", threshold=1.5)


def test_removal_settings_drop_the_prompt_and_lower_guidance():
    from avatar.edit.inpaint import REMOVAL_GUIDANCE, removal_options

    settings = removal_options(InpaintOptions(prompt="a cat", negative_prompt="dog", guidance=9.0, seed=3, steps=12))
    assert (settings.prompt, settings.negative_prompt, settings.guidance) == ("", "", REMOVAL_GUIDANCE)
    assert (settings.seed, settings.steps) == (3, 12)
    assert REMOVAL_GUIDANCE < InpaintOptions().guidance
