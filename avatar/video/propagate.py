"""Video inpainting without a model: pixels from other frames, carried along the optical flow.

What a mask hides in one frame is usually visible in another, because the camera
or the object moves. So each hole pixel is followed through the neighbouring
frames along the optical flow (DIS, chained frame to frame) until it lands on a
pixel that frame shows; the first such pixel in each direction is a candidate,
and the forward and backward candidates are blended, the nearer frame weighing
more (or alone, when the two disagree: one side then saw something else, such as
an occluder). Only what no frame in reach shows is invented: OpenCV's Telea fills
it once, on the first frame that needs it, and every later frame takes that fill
from the previous output, warped along the flow, so it moves with the scene
instead of being re-invented (and flickering) frame by frame.

Flow inside the hole cannot be measured (it shows the logo or the object, not
the background), so it is measured around the hole and filled in smoothly
(`fill_smoothly`, a push-pull interpolation): a pan or a still shot continues
under the mask exactly, which is what the pixels are carried along.

Memory: frames stream through a sliding window of `window` frames on each side
of the frame being filled (full-resolution RGB, masks, and flow at `flow_side`
px), so memory does not grow with the video: at 480p with the default window of
15 that is about 31 x 1.2 MB of frames plus 2 x 31 x 0.5 MB of flow. Pixels that
only a frame further away shows are taken from the previous output (which saw
them through its own window), so reach beyond the window is not lost for a
static hole, only delayed.

Measured on the synthetic clips of `tests/test_video_inpaint.py` (64x48, 20
frames, known background; MAE and flicker in 8-bit levels inside the mask;
flicker is the mean absolute change between consecutive frames, to be compared
with the true clip's, which moves in (a) and is still in (b)):

    clip                                method        MAE   flicker  (true)
    (a) textured pan behind a box       propagation   0.5   15.4     (15.8)
                                        Telea/frame  13.8    5.7
    (b) disc over a still background,   propagation   0.1    0.1     (0.0)
        masked frame by frame           Telea/frame  14.3    8.6

Speed (`python -m benchmarks.video`, 2 cores): a whole 480p job (decode, fill,
encode) runs at about 24 frames/s with a 100x60 hole; a 60 s 480p job peaks at
about 470 MB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from avatar.edit.classical import inpaint_classical
from avatar.edit.masks import mask_bbox


@dataclass(frozen=True)
class PropagationOptions:
    """How far and how carefully pixels are carried between frames.

    `window`: frames searched on each side (memory grows with it, reach too).
    `flow_side`: the long side of the frames the flow is measured on; DIS at 480
    px keeps 2 x 8 ms per frame at 480p and sub-pixel accuracy after upscaling.
    `edge_margin`: pixels this close to a hole are not copied, because a logo's
    soft edge or an object's halo lies there.
    `flow_margin`: how far around a hole (on the flow grid) the measured flow is
    replaced too: DIS matches 8 px patches, so motion inside the hole spills
    a few pixels out of it (measured: 2 px left 4x the error of 6 px).
    `disagreement`: mean level difference above which the forward and backward
    candidates are not averaged (the nearer frame wins).
    """

    window: int = 15
    flow_side: int = 480
    edge_margin: int = 2
    flow_margin: int = 6
    disagreement: float = 30.0
    inpaint_radius: int = 5


class FlowEstimator:
    """Dense optical flow between frames of one size, measured on small grey copies.

    Flow vectors are in full-resolution pixels, on a grid `scale` times the frame's size.
    """

    def __init__(self, width: int, height: int, flow_side: int = 480) -> None:
        self.width, self.height = width, height
        self.scale = min(1.0, flow_side / max(width, height))
        self.small_size = (max(8, round(width * self.scale)), max(8, round(height * self.scale)))
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def grey(self, rgb: np.ndarray, hole_small: Optional[np.ndarray] = None) -> np.ndarray:
        """The small grey frame flow is measured on, with the hole smoothed over.

        A logo that stays put while the scene moves would pull the flow around it
        towards zero (DIS's coarse levels see it over many pixels); a smooth patch
        matching its surroundings has no texture to pull with.
        """
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if self.small_size != (self.width, self.height):
            grey = cv2.resize(grey, self.small_size, interpolation=cv2.INTER_AREA)
        if hole_small is not None and hole_small.any():
            smooth = fill_smoothly(grey.astype(np.float32)[..., None], ~hole_small)[..., 0]
            grey = np.clip(np.round(smooth), 0, 255).astype(np.uint8)
        return grey

    def hole(self, hole: np.ndarray, grow: int = 2) -> np.ndarray:
        """The hole on the flow grid, grown: flow is unreliable on and next to it."""
        small = hole.astype(np.uint8)
        if self.small_size != (self.width, self.height):
            small = cv2.resize(small * 255, self.small_size, interpolation=cv2.INTER_AREA) > 0
        return cv2.dilate(small.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0

    def flow(self, grey_from: np.ndarray, grey_to: np.ndarray, hole_from: np.ndarray) -> np.ndarray:
        """Flow from one frame to another (full-res px), continued smoothly under `hole_from`."""
        flow = self._dis.calc(grey_from, grey_to, None)
        return fill_smoothly(flow, ~hole_from) / self.scale

    def sample(self, flow: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """The flow at full-resolution positions (bilinear), shape xs.shape + (2,)."""
        # Pixel centres: full-res x maps to (x + 0.5) * scale - 0.5 on the small grid.
        map_x = (xs + 0.5) * self.scale - 0.5
        map_y = (ys + 0.5) * self.scale - 0.5
        return cv2.remap(flow, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)


def fill_smoothly(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the unknown pixels of an HxWxC float map from the known ones (push-pull).

    Known values are averaged down an image pyramid and the averages pulled back
    up where nothing is known: a smooth membrane over the hole that matches its
    border, in time linear in the pixel count whatever the hole's size.
    """
    values = values.astype(np.float32, copy=False)
    if known.all():
        return values
    if not known.any():
        return np.zeros_like(values)
    weight = known.astype(np.float32)
    sums = values * weight[..., None]
    levels = [(sums, weight)]
    while min(weight.shape) > 2:
        sums, weight = cv2.pyrDown(sums), cv2.pyrDown(weight)
        if sums.ndim == 2:
            sums = sums[..., None]
        levels.append((sums, weight))
    sums, weight = levels[-1]
    mean = sums.sum(axis=(0, 1)) / max(float(weight.sum()), 1e-6)
    estimate = np.where(weight[..., None] > 1e-6, sums / np.maximum(weight, 1e-6)[..., None], mean)
    for sums, weight in reversed(levels[:-1]):
        up = cv2.pyrUp(estimate.astype(np.float32), dstsize=(weight.shape[1], weight.shape[0]))
        if up.ndim == 2:
            up = up[..., None]
        alpha = np.clip(weight * 2.0, 0.0, 1.0)[..., None]
        estimate = alpha * (sums / np.maximum(weight, 1e-6)[..., None]) + (1.0 - alpha) * up
    return np.where(known[..., None], values, estimate).astype(np.float32)


def warp(image: np.ndarray, flows: FlowEstimator, flow: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The part `box` of a frame, fetched from `image` along `flow` (which points into `image`)."""
    x0, y0, x1, y1 = box
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    step = flows.sample(flow, xs, ys)
    return cv2.remap(image, xs + step[..., 0], ys + step[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass
class _Slot:
    """One frame in the window, with what propagation needs of it."""

    rgb: np.ndarray
    hole: np.ndarray  # bool HxW, True = fill
    copyable: np.ndarray  # uint8 HxW, 1 where the pixel may be copied into another frame's hole
    grey: np.ndarray
    hole_small: np.ndarray
    forward: Optional[np.ndarray] = None  # flow to the next frame
    backward: Optional[np.ndarray] = None  # flow to the previous frame


@dataclass
class _Candidates:
    """The pixels found for a hole, searching one way along the flow."""

    colours: np.ndarray  # float32 (h, w, 3) over the hole's box
    distance: np.ndarray  # int32 (h, w): frames away, 0 = not found


class Propagator:
    """Fills the holes of a stream of frames; see the module docstring."""

    def __init__(self, options: PropagationOptions = PropagationOptions()) -> None:
        self.options = options
        self.flows: Optional[FlowEstimator] = None
        self._slots: dict[int, _Slot] = {}
        self._previous_output: Optional[np.ndarray] = None
        self._kernel = np.ones((2 * options.edge_margin + 1,) * 2, np.uint8)
        self.invented_frames: list[int] = []  # frames where Telea had to invent pixels

    def run(self, frames: Iterable[tuple[np.ndarray, np.ndarray]],
            on_frame: Optional[Callable[[int], None]] = None) -> Iterator[np.ndarray]:
        """Yield each frame filled, `window` frames after it was read; (rgb, hole) pairs in."""
        window = self.options.window
        next_out = 0
        last = -1
        for index, (rgb, hole) in enumerate(frames):
            self._add(index, rgb, hole)
            last = index
            while next_out <= index - window:
                yield self._emit(next_out, on_frame)
                next_out += 1
        while next_out <= last:
            yield self._emit(next_out, on_frame)
            next_out += 1

    def _add(self, index: int, rgb: np.ndarray, hole: np.ndarray) -> None:
        if self.flows is None:
            self.flows = FlowEstimator(rgb.shape[1], rgb.shape[0], self.options.flow_side)
        grown = cv2.dilate(hole.astype(np.uint8), self._kernel) if self.options.edge_margin else hole.astype(np.uint8)
        hole_small = self.flows.hole(hole, self.options.flow_margin)
        slot = _Slot(rgb=rgb, hole=hole, copyable=(grown == 0).astype(np.uint8),
                     grey=self.flows.grey(rgb, self.flows.hole(hole, 1)), hole_small=hole_small)
        previous = self._slots.get(index - 1)
        if previous is not None:
            previous.forward = self.flows.flow(previous.grey, slot.grey, previous.hole_small)
            slot.backward = self.flows.flow(slot.grey, previous.grey, slot.hole_small)
        self._slots[index] = slot

    def _emit(self, index: int, on_frame: Optional[Callable[[int], None]]) -> np.ndarray:
        output = self._fill(index)
        self._previous_output = output
        self._slots.pop(index - self.options.window, None)
        if on_frame is not None:
            on_frame(index)
        return output

    def _search(self, index: int, box: tuple[int, int, int, int], target: np.ndarray, direction: int) -> _Candidates:
        """Follow the hole's pixels frame by frame until each lands on a pixel that frame shows."""
        x0, y0, x1, y1 = box
        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        colours = np.zeros(target.shape + (3,), np.float32)
        distance = np.zeros(target.shape, np.int32)
        pending = target.copy()
        frame_height, frame_width = self._slots[index].hole.shape
        for steps in range(1, self.options.window + 1):
            here = self._slots.get(index + (steps - 1) * direction)
            there = self._slots.get(index + steps * direction)
            if here is None or there is None:
                break
            step = self.flows.sample(here.forward if direction > 0 else here.backward, xs, ys)
            xs += step[..., 0]
            ys += step[..., 1]
            pending &= (xs >= 0) & (xs <= frame_width - 1) & (ys >= 0) & (ys <= frame_height - 1)
            landed = pending & (cv2.remap(there.copyable, xs, ys, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                          borderValue=0) > 0)
            if landed.any():
                sampled = cv2.remap(there.rgb, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                colours[landed] = sampled[landed]
                distance[landed] = steps
                pending &= ~landed
            if not pending.any():
                break
        return _Candidates(colours, distance)

    def _blend(self, forward: _Candidates, backward: _Candidates) -> tuple[np.ndarray, np.ndarray]:
        """Average the two sides by inverse distance, or take the nearer where they disagree."""
        weight_f = np.where(forward.distance > 0, 1.0 / np.maximum(forward.distance, 1), 0.0).astype(np.float32)
        weight_b = np.where(backward.distance > 0, 1.0 / np.maximum(backward.distance, 1), 0.0).astype(np.float32)
        both = (weight_f > 0) & (weight_b > 0)
        disagree = both & (np.abs(forward.colours - backward.colours).mean(axis=2) > self.options.disagreement)
        weight_f[disagree & (forward.distance >= backward.distance)] = 0.0  # ties go to the past,
        weight_b[disagree & (forward.distance < backward.distance)] = 0.0  # which the last output saw
        total = weight_f + weight_b
        found = total > 0
        blended = (forward.colours * weight_f[..., None] + backward.colours * weight_b[..., None]) / np.maximum(
            total, 1e-6)[..., None]
        return blended, found

    def _fill(self, index: int) -> np.ndarray:
        slot = self._slots[index]
        box = mask_bbox(slot.hole)
        if box is None:
            return slot.rgb
        x0, y0, x1, y1 = box
        target = slot.hole[y0:y1, x0:x1]
        fill, found = self._blend(self._search(index, box, target, +1), self._search(index, box, target, -1))
        output = slot.rgb.copy()
        region = output[y0:y1, x0:x1]
        region[target & found] = np.clip(np.round(fill[target & found]), 0, 255).astype(np.uint8)
        unseen = target & ~found
        if unseen.any():
            if self._previous_output is not None and slot.backward is not None:
                carried = warp(self._previous_output, self.flows, slot.backward, box)
                region[unseen] = carried[unseen]
            else:
                # Nothing in reach shows these pixels and there is no earlier fill to carry: invent them once.
                hole = np.zeros(slot.hole.shape, bool)
                hole[y0:y1, x0:x1] = unseen
                output = inpaint_classical(output, hole, "telea", self.options.inpaint_radius)
                self.invented_frames.append(index)
        return output


def propagate(frames: Iterable[tuple[np.ndarray, np.ndarray]], options: PropagationOptions = PropagationOptions(),
              on_frame: Optional[Callable[[int], None]] = None) -> Iterator[np.ndarray]:
    """Fill each frame's hole from the other frames: (rgb, hole) pairs in, filled RGB frames out, in order."""
    return Propagator(options).run(frames, on_frame)
