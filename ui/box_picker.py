"""A box on a picture: drag it on the picture, or type its corners; both stay in step.

Used by every page that selects by box (Object Shift, Inpainting's box mode, video
inpainting on a frame of the video). The picture is shown on a drawing canvas scaled
to fit the column (measured in the browser, so it fits a phone as well as a desktop);
the box dragged on it is mapped back to the picture's own pixels and written into the
four number fields, and a box typed there is drawn on the picture. A box that is
empty or reaches outside the picture is refused with one sentence, so nothing is
queued for it.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

Box = tuple[int, int, int, int]

ROOM_DEFAULT = 640
"""Canvas width (CSS px) before the browser has said how wide the column is."""
MAX_CANVAS_HEIGHT = 560
"""A tall picture is shown at most this high, so the whole of it can be boxed without scrolling."""
MAX_ENLARGEMENT = 2.0
"""A small picture (a 160x90 video) is shown up to this much larger, so a box can be drawn on it by hand."""
TOOLBAR_ROOM = 34
"""Pixels kept free above the canvas for its toolbar, which would otherwise cover the line above."""
FIELD_WIDTH = 160
"""Each corner's field: four in a row on a desktop, two by two on a phone."""
COLOUR = "#ff2b2b"
FILL = "rgba(255, 43, 43, 0.12)"
STROKE_WIDTH = 2
LABELS = ("Box left (x0)", "Box top (y0)", "Box right (x1)", "Box bottom (y1)")
CORNERS = ("x0", "y0", "x1", "y1")

_ROOM_JS = """
const seen = new WeakMap();
export default function ({ parentElement, data, setStateValue }) {
  const known = data && data.width;
  let probe = seen.get(parentElement);
  if (probe) {
    probe.last = known;
    return;
  }
  const element = parentElement.querySelector(".box-room");
  probe = { last: known, timer: null };
  const send = () => {
    const width = Math.floor(element.getBoundingClientRect().width);
    if (width > 0 && (probe.last == null || Math.abs(width - probe.last) >= 8)) {
      probe.last = width;
      setStateValue("width", width);
    }
  };
  const observer = new ResizeObserver(() => {
    clearTimeout(probe.timer);
    probe.timer = setTimeout(send, 150);
  });
  observer.observe(element);
  seen.set(parentElement, probe);
  send();
  return () => {
    observer.disconnect();
    clearTimeout(probe.timer);
    seen.delete(parentElement);
  };
}
"""


@functools.lru_cache(maxsize=1)
def _room_probe():
    """A zero-height element that reports the width of the column it sits in (registered once per process)."""
    return st.components.v2.component(
        "avatar_studio.box_room", html='<div class="box-room"></div>', css=".box-room{width:100%;height:0}",
        js=_ROOM_JS)


def centred_box(width: int, height: int, fraction: float = 0.5) -> Box:
    """A box `fraction` of the picture's width and height, in its middle."""
    box_width, box_height = max(1, round(width * fraction)), max(1, round(height * fraction))
    x0, y0 = (width - box_width) // 2, (height - box_height) // 2
    return x0, y0, x0 + box_width, y0 + box_height


def box_problem(box: Box, width: int, height: int, noun: str = "picture") -> Optional[str]:
    """The one sentence that says what is wrong with a box on a `width` x `height` picture (or `noun`), or None."""
    x0, y0, x1, y1 = box
    shown = f"{x0},{y0},{x1},{y1}"
    if x1 <= x0 or y1 <= y0:
        wrong = f"x1 ({x1}) must be greater than x0 ({x0})" if x1 <= x0 else f"y1 ({y1}) must be greater than y0 ({y0})"
        return f"The box {shown} is empty: {wrong}; drag a box on the {noun} or correct the numbers."
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        return (f"The box {shown} reaches outside the {width}x{height} {noun}: keep x between 0 and {width} and y "
                f"between 0 and {height}.")
    return None


def canvas_size(width: int, height: int, room: int) -> tuple[int, int]:
    """The canvas size (CSS px) a `width` x `height` picture is shown at in a column `room` px wide."""
    scale = min(room / width, MAX_CANVAS_HEIGHT / height, MAX_ENLARGEMENT)
    return max(1, round(width * scale)), max(1, round(height * scale))


def box_to_rect(box: Box, scale_x: float, scale_y: float) -> dict[str, Any]:
    """A box in picture pixels as the canvas draws it (a Fabric.js rectangle in canvas pixels)."""
    x0, y0, x1, y1 = box
    return {
        "type": "Rect", "originX": "left", "originY": "top",
        "left": x0 * scale_x, "top": y0 * scale_y, "width": (x1 - x0) * scale_x, "height": (y1 - y0) * scale_y,
        "scaleX": 1, "scaleY": 1, "angle": 0, "fill": FILL, "stroke": COLOUR, "strokeWidth": STROKE_WIDTH,
        "strokeUniform": True,
    }


_ORIGIN = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}


def rect_to_box(rect: dict[str, Any], scale_x: float, scale_y: float, width: int, height: int) -> Box:
    """A rectangle drawn (or moved, or resized) on the canvas, in picture pixels, clipped to the picture."""
    rect_width = float(rect.get("width", 0)) * float(rect.get("scaleX", 1))
    rect_height = float(rect.get("height", 0)) * float(rect.get("scaleY", 1))
    left = float(rect.get("left", 0)) - _ORIGIN.get(rect.get("originX", "left"), 0.0) * rect_width
    top = float(rect.get("top", 0)) - _ORIGIN.get(rect.get("originY", "top"), 0.0) * rect_height
    x0, x1 = sorted((left / scale_x, (left + rect_width) / scale_x))
    y0, y1 = sorted((top / scale_y, (top + rect_height) / scale_y))

    def clip(value: float, limit: int) -> int:
        return int(min(max(round(value), 0), limit))

    return clip(x0, width), clip(y0, height), clip(x1, width), clip(y1, height)


def drawn_box(state: Any, scale_x: float, scale_y: float, width: int, height: int) -> Optional[Box]:
    """The newest rectangle in the canvas's state (what the browser sent), in picture pixels; None if none."""
    try:
        objects = state["drawing"]["raw"]["objects"]
    except (KeyError, TypeError):
        return None
    rects = [o for o in objects or [] if isinstance(o, dict) and o.get("type") in ("Rect", "rect")]
    return rect_to_box(rects[-1], scale_x, scale_y, width, height) if rects else None


def draw_box(image: np.ndarray, box: Box) -> np.ndarray:
    """The picture with the box outlined (shown where the canvas cannot be)."""
    shown = Image.fromarray(image).convert("RGB")
    thickness = max(1, round(max(shown.size) / 300))
    x0, y0, x1, y1 = box
    if x1 > x0 and y1 > y0:
        ImageDraw.Draw(shown).rectangle((x0, y0, x1 - 1, y1 - 1), outline=COLOUR, width=thickness)
    return np.asarray(shown)


def _canvas():
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception:  # the component cannot register here
        return None
    return st_canvas


def box_picker(image: np.ndarray, key: str, default: Optional[Box] = None, ident: Any = None,
               target: str = "the object", noun: str = "picture", note: str = "") -> Optional[Box]:
    """Show `image` with a box to drag on it and the box's four corners to type; return the box in the picture's
    pixels, or None after saying (st.error) what is wrong with it.

    The line above the picture says "Drag a box around `target` on it ..." and then `note`; `noun` is what the
    picture is called there ("picture", "frame").

    The fields keep their values under `{key}_x0` ... `{key}_y1`; they start at `default` (the middle half of the
    picture) and again whenever `ident` (what the picture is: an upload's id, a video) or the picture's size changes;
    otherwise the box is kept, also while the page shows another way of selecting.
    """
    height, width = image.shape[:2]
    default = default or centred_box(width, height)
    fields = [f"{key}_{corner}" for corner in CORNERS]
    picture = (ident, width, height)
    if st.session_state.get(f"{key}_picture") != picture:
        st.session_state[f"{key}_picture"] = picture
        st.session_state[f"{key}_box"] = tuple(int(v) for v in default)
        for field in fields:
            st.session_state.pop(field, None)
    if any(f not in st.session_state for f in fields):
        # New fields, or fields Streamlit forgot while the page showed another way of selecting: the box is kept.
        for field, value in zip(fields, st.session_state[f"{key}_box"]):
            st.session_state[field] = int(value)
    box: Box = tuple(int(st.session_state[f]) for f in fields)  # type: ignore[assignment]

    st_canvas = _canvas()
    st.caption(f"The {noun} is {width}x{height} pixels. Drag a box around {target} on it, or type the box's corners "
               f"below (x0,y0 is its top-left corner, x1,y1 its bottom-right).{' ' + note if note else ''}")
    with st.container(gap=None):
        room = column_width(key)
        if st_canvas is None:
            st.image(draw_box(image, box), width=canvas_size(width, height, room)[0])
        else:
            st.space(TOOLBAR_ROOM)  # the canvas's toolbar (undo, move or resize, clear) shows above it
            canvas_width, canvas_height = canvas_size(width, height, room)
            scale_x, scale_y = canvas_width / width, canvas_height / height
            canvas_key = f"{key}_canvas_{abs(hash(picture)) % 10**8}"

            def take_drawn_box() -> None:
                drawn = drawn_box(st.session_state.get(canvas_key), scale_x, scale_y, width, height)
                if drawn is not None:
                    for field, value in zip(fields, drawn):
                        st.session_state[field] = value

            shown = box if box_problem(box, width, height) is None else None
            st_canvas(
                fill_color=FILL, stroke_width=STROKE_WIDTH, stroke_color=COLOUR,
                background_image=Image.fromarray(image).convert("RGB").resize((canvas_width, canvas_height)),
                width=canvas_width, height=canvas_height, drawing_mode="rect",
                initial_drawing={"objects": [box_to_rect(shown, scale_x, scale_y)] if shown else []},
                key=canvas_key, on_change=take_drawn_box,
            )
    with st.container(horizontal=True, gap="small"):
        for field, label, limit in zip(fields, LABELS, (width, height, width, height)):
            # The value is the field's own (in session state); passing it as the default too means a field the
            # browser draws afresh starts from the box, not from 0.
            st.number_input(label, min_value=0, max_value=limit, value=int(st.session_state[field]), step=1,
                            key=field, width=FIELD_WIDTH)
    box = tuple(int(st.session_state[f]) for f in fields)  # type: ignore[assignment]
    st.session_state[f"{key}_box"] = box
    problem = box_problem(box, width, height, noun)
    if problem:
        st.error(problem)
        return None
    return box


def column_width(key: str) -> int:
    """How wide (CSS px) the column this is called in is, as the browser last said; ROOM_DEFAULT until it has.

    Puts a zero-height element there that reports its width (and again when the window is resized)."""
    try:
        reported = _room_probe()(key=f"{key}_room", data={"width": st.session_state.get(f"{key}_room_width")},
                                 default={"width": None}, on_width_change=lambda: None)
        width = reported.get("width") if hasattr(reported, "get") else None
    except Exception:  # no component here: a fixed width
        width = None
    if width:
        st.session_state[f"{key}_room_width"] = int(width)
    return int(st.session_state.get(f"{key}_room_width") or ROOM_DEFAULT)
