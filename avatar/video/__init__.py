"""Video tools: text-to-video, image-to-video, video inpainting and upscaling.

One function per tool, each reading videos through `io.py`, writing through
`avatar.video_writer`, and keeping its result in a job folder (`job.py`).
"""
