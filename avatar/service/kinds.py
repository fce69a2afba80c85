"""Every job kind, by name: the talking video, the portrait, the image tools, the video tools and dubbing."""

from __future__ import annotations

from avatar.errors import InputError, quoted
from avatar.service.dub_kind import DUB
from avatar.service.enhance_kind import ENHANCE
from avatar.service.image_kinds import IMAGE_KINDS
from avatar.service.job_kind import JobKind
from avatar.service.live_kind import LIVE
from avatar.service.portrait_kind import PORTRAIT
from avatar.service.talk_kind import TALK
from avatar.service.video_kinds import VIDEO_KINDS

KINDS: dict[str, JobKind] = {kind.name: kind
                             for kind in (TALK, PORTRAIT, *IMAGE_KINDS, *VIDEO_KINDS, DUB, ENHANCE, LIVE)}


def get_kind(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise InputError(f"Unknown job kind {quoted(name)}; use one of: {', '.join(KINDS)}.") from None
