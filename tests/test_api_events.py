"""A job's events stream says something at least every KEEP_ALIVE_S, even while the job waits: a silent stream is
closed by proxies and by clients' read timeouts."""

from __future__ import annotations

import threading

from tests.test_api_refusals import Api


def test_a_waiting_jobs_stream_sends_keep_alive_comments_until_it_ends(tmp_path, monkeypatch, fixtures):
    monkeypatch.setattr("avatar.service.api.KEEP_ALIVE_S", 0.3)
    api = Api(tmp_path)  # its jobs stay queued: no event would follow the first
    portrait = (fixtures / "obama.jpg").read_bytes()
    submitted = api.submit({"text": "Hello."}, {"portrait": ("obama.jpg", portrait, "image/jpeg")})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    owner = api.service.store.get(job_id).owner
    ender = threading.Timer(1.5, lambda: api.service.delete(owner, job_id))
    ender.start()
    with api.client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        lines = [line for line in response.iter_lines() if line]
    ender.join()
    assert lines[0].startswith("data: ")
    assert lines.count(": keep-alive") >= 2  # about one every 0.3 s while nothing changed
    assert lines[-2:] == ["event: gone", f'data: {{"id": "{job_id}"}}']

