"""Object masks without a model: boxes and clicks (GrabCut), brushes, uploads, and helpers.

A mask throughout `avatar.edit` is a boolean array of the image's height and width,
True where the object (or the area to fill) is. Everything a user hands us (a PNG
drawn elsewhere, a canvas stroke layer, a float map) goes through `as_mask` first,
so the tools below never guess at conventions.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np
from PIL import Image, ImageOps

from avatar.errors import InputError
from avatar.media import load_image

Box = tuple[int, int, int, int]
Point = tuple[int, int]

# GrabCut runs on a crop around the selection, scaled so its long side is at most
# this: the colour models need a few thousand pixels, not millions, and the time
# grows with the pixel count.
GRABCUT_MAX_SIDE = 512


def as_mask(mask: np.ndarray) -> np.ndarray:
    """Turn a bool, 0/255, 0..1 float, RGB or RGBA array into a boolean HxW mask.

    RGBA input (a brush layer) uses its alpha when the alpha carries the strokes,
    otherwise the brightness, so both a transparent stroke layer and a white-on-black
    mask picture work.
    """
    array = np.asarray(mask)
    if array.ndim == 3:
        if array.shape[2] == 4 and array[..., 3].min() < 255:
            return array[..., 3] > 127
        array = array[..., :3].mean(axis=2)
    if array.ndim != 2:
        raise InputError("A mask must be a single picture (height x width); use a black-and-white image.")
    if array.dtype == bool:
        return array.copy()
    if array.max(initial=0) <= 1:  # a 0/1 label map or a 0..1 float alpha
        return array > 0.5
    return array > 127


def fit_mask(mask: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, Optional[str]]:
    """Return the mask at the image's size, and a notice if it had to be resized.

    A mask drawn on a preview or exported at another resolution is still meant for
    this image, so it is scaled (nearest neighbour, so it stays binary) rather than
    refused; the notice tells the user it happened. A mask whose shape is far from
    the image's (aspect ratio off by more than 5%) is refused: that is the wrong file.
    """
    mask = as_mask(mask)
    height, width = image.shape[:2]
    if mask.shape == (height, width):
        return mask, None
    mask_height, mask_width = mask.shape
    if abs(mask_width / mask_height - width / height) > 0.05 * (width / height):
        raise InputError(
            f"The mask is {mask_width}x{mask_height} but the image is {width}x{height} with another shape; "
            "use a mask made for this image."
        )
    resized = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
    return resized, f"The mask was {mask_width}x{mask_height}; it was resized to the image's {width}x{height}."


def require_nonempty(mask: np.ndarray, what: str = "The mask") -> np.ndarray:
    """Refuse an empty or all-covering mask: there is nothing to move, fill or keep."""
    if not mask.any():
        raise InputError(f"{what} is empty; mark the object (brush, box or text) and try again.")
    if mask.all():
        raise InputError(f"{what} covers the whole image; mark only the part to change.")
    return mask


def mask_pad(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow a mask by exactly `pixels` px (Euclidean): every pixel that close to it joins.

    Removal pads the object's mask so the fill also replaces the object's soft edge,
    shadow and halo, which a tight mask would leave behind as a ghost outline.
    """
    mask = as_mask(mask)
    if pixels < 0:
        raise InputError("Mask padding must be zero or more pixels.")
    if pixels == 0 or not mask.any():
        return mask
    # Distance from every outside pixel to the nearest mask pixel.
    distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return distance <= pixels + 1e-3


def mask_blur(mask: np.ndarray, radius: float) -> np.ndarray:
    """A soft 0..1 alpha from a mask: a Gaussian edge about `radius` px wide.

    Used to blend a fill or a pasted object into its surroundings without a seam.
    """
    alpha = as_mask(mask).astype(np.float32)
    if radius <= 0:
        return alpha
    sigma = radius / 2.0
    size = 2 * int(np.ceil(3 * sigma)) + 1
    return np.clip(cv2.GaussianBlur(alpha, (size, size), sigma), 0.0, 1.0)


def mask_overlay(image: np.ndarray, mask: np.ndarray, color: Sequence[int] = (255, 40, 40), opacity: float = 0.45) -> np.ndarray:
    """The image with the mask tinted and outlined, to show what was selected."""
    mask = as_mask(mask)
    shown = image.astype(np.float32).copy()
    tint = np.asarray(color, dtype=np.float32)
    shown[mask] = shown[mask] * (1.0 - opacity) + tint * opacity
    shown = np.clip(shown, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    thickness = max(1, round(max(image.shape[:2]) / 400))
    cv2.drawContours(shown, contours, -1, tuple(int(c) for c in color), thickness)
    return shown


def mask_bbox(mask: np.ndarray) -> Optional[Box]:
    """(x0, y0, x1, y1) of the mask's pixels, x1/y1 exclusive; None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def parse_box(text: str) -> Box:
    """Parse "X0,Y0,X1,Y1" as typed on the command line."""
    try:
        values = [int(round(float(part))) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise InputError(f"A box is four numbers X0,Y0,X1,Y1 (pixels), not {text!r}.")
    return values[0], values[1], values[2], values[3]


def check_box(box: Sequence[float], image: np.ndarray) -> Box:
    """Order, clip and validate a box against the image."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    x0, x1 = max(0, x0), min(width, x1)
    y0, y1 = max(0, y0), min(height, y1)
    if x1 - x0 < 4 or y1 - y0 < 4:
        raise InputError(
            f"The box {tuple(box)} is too small or outside the {width}x{height} image; draw it around the object."
        )
    return x0, y0, x1, y1


def _grabcut(image: np.ndarray, labels: np.ndarray, rect: Optional[Box], iterations: int) -> np.ndarray:
    """Run GrabCut on a (possibly downscaled) copy; return a full-size boolean mask."""
    height, width = image.shape[:2]
    scale = min(1.0, GRABCUT_MAX_SIDE / max(height, width))
    work_image, work_labels = image, labels
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        work_image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        work_labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(work_image[..., ::-1])
    cv2.setRNGSeed(0)  # GrabCut's k-means start is random; make selections repeatable.
    try:
        if rect is not None:
            x0, y0, x1, y1 = (int(round(v * scale)) for v in rect)
            work_rect = (x0, y0, max(1, x1 - x0), max(1, y1 - y0))
            cv2.grabCut(bgr, work_labels, work_rect, bgd_model, fgd_model, iterations, cv2.GC_INIT_WITH_RECT)
        else:
            cv2.grabCut(bgr, work_labels, None, bgd_model, fgd_model, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        raise InputError("Could not separate the object from its background; draw a box or clicks that cover it.") from None
    foreground = ((work_labels == cv2.GC_FGD) | (work_labels == cv2.GC_PR_FGD)).astype(np.uint8)
    if scale < 1.0:
        foreground = cv2.resize(foreground, (width, height), interpolation=cv2.INTER_LINEAR)
    return foreground > 0


def _crop_around(box: Box, image: np.ndarray, margin: float) -> Box:
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    pad_x = max(8, int((x1 - x0) * margin))
    pad_y = max(8, int((y1 - y0) * margin))
    return max(0, x0 - pad_x), max(0, y0 - pad_y), min(width, x1 + pad_x), min(height, y1 + pad_y)


def _drop_specks(mask: np.ndarray, min_fraction: float = 0.01) -> np.ndarray:
    """Drop connected bits smaller than `min_fraction` of the largest one."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= areas.max() * min_fraction) + 1
    return np.isin(labels, keep)


def mask_from_box(image: np.ndarray, box: Sequence[float], iterations: int = 5) -> np.ndarray:
    """The object inside a box, separated from its background by GrabCut.

    Always available (no model). GrabCut learns the background's colours from just
    outside the box, so it runs on the box plus a margin rather than the whole image.
    """
    box = check_box(box, image)
    cx0, cy0, cx1, cy1 = _crop_around(box, image, margin=0.25)
    crop = image[cy0:cy1, cx0:cx1]
    labels = np.zeros(crop.shape[:2], np.uint8)
    x0, y0, x1, y1 = box
    inner = (x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0)
    if inner == (0, 0, crop.shape[1], crop.shape[0]):
        # The box is the whole image: GrabCut needs some background, so shrink by a pixel.
        inner = (1, 1, crop.shape[1] - 1, crop.shape[0] - 1)
    crop_mask = _drop_specks(_grabcut(crop, labels, inner, iterations))
    mask = np.zeros(image.shape[:2], bool)
    mask[cy0:cy1, cx0:cx1] = crop_mask
    mask[:, :x0] = mask[:, x1:] = False
    mask[:y0, :] = mask[y1:, :] = False
    return mask


def mask_from_points(
    image: np.ndarray,
    points: Sequence[Point],
    background_points: Sequence[Point] = (),
    radius: Optional[int] = None,
    iterations: int = 5,
) -> np.ndarray:
    """The object under clicked points (and not under background clicks), by GrabCut.

    Each click marks a small disc as sure object; the region around the clicks is
    "probably object" and the rest "probably background", which GrabCut then refines.
    Only the connected parts that contain a click are kept.
    """
    height, width = image.shape[:2]
    inside = [(int(x), int(y)) for x, y in points if 0 <= x < width and 0 <= y < height]
    if not inside:
        raise InputError("Click at least one point on the object, inside the image.")
    short = min(height, width)
    radius = radius or max(2, short // 100)
    xs = [p[0] for p in inside]
    ys = [p[1] for p in inside]
    reach = max(short // 6, 16)
    box = (min(xs) - reach, min(ys) - reach, max(xs) + reach, max(ys) + reach)
    cx0, cy0, cx1, cy1 = _crop_around(check_box(box, image), image, margin=0.25)
    crop = image[cy0:cy1, cx0:cx1]
    labels = np.full(crop.shape[:2], cv2.GC_PR_BGD, np.uint8)
    bx0, by0, bx1, by1 = check_box(box, image)
    labels[by0 - cy0 : by1 - cy0, bx0 - cx0 : bx1 - cx0] = cv2.GC_PR_FGD
    for x, y in background_points:
        cv2.circle(labels, (int(x) - cx0, int(y) - cy0), radius, cv2.GC_BGD, -1)
    for x, y in inside:
        cv2.circle(labels, (x - cx0, y - cy0), radius, cv2.GC_FGD, -1)
    crop_mask = _grabcut(crop, labels, None, iterations)
    count, components = cv2.connectedComponents(crop_mask.astype(np.uint8), connectivity=8)
    clicked = {int(components[y - cy0, x - cx0]) for x, y in inside} - {0}
    mask = np.zeros(image.shape[:2], bool)
    mask[cy0:cy1, cx0:cx1] = np.isin(components, list(clicked))
    return mask


def mask_from_brush(strokes: np.ndarray, image: np.ndarray) -> np.ndarray:
    """A mask from brush strokes drawn over a (possibly smaller) preview of the image.

    `strokes` is the canvas layer: RGBA with transparent background, or a grey picture
    with the strokes bright. It is scaled to the image (nearest neighbour).
    """
    mask = as_mask(strokes)
    height, width = image.shape[:2]
    if mask.shape != (height, width):
        mask = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
    return mask


def load_mask(source) -> np.ndarray:
    """Read a mask picture (path, bytes or upload) as a boolean array.

    Accepts white-on-black pictures and transparent layers with painted strokes.
    The file goes through `media.load_image` first, so a corrupt or oversized file
    gets the same clear error as any image; the alpha channel is then read apart,
    because `load_image` flattens transparency onto white.
    """
    if isinstance(source, (str, Path)):
        if not Path(source).is_file():
            raise InputError(f"The mask file {source} does not exist; check the path.")
        data = Path(source).read_bytes()
    elif isinstance(source, bytes):
        data = source
    else:
        data = source.getvalue() if hasattr(source, "getvalue") else source.read()
    rgb = load_image(data)
    with Image.open(io.BytesIO(data)) as opened:
        picture = ImageOps.exif_transpose(opened)
        if "A" in picture.getbands() or picture.mode == "P" and "transparency" in picture.info:
            alpha = np.asarray(picture.convert("RGBA"))[..., 3]
            if alpha.min() < 255:
                size = (rgb.shape[1], rgb.shape[0])
                if alpha.shape != rgb.shape[:2]:
                    alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_NEAREST)
                return alpha > 127
    return as_mask(rgb)
