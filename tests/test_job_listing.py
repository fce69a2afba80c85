"""Listings page: every stored job is reachable through the API's pages, `avatar jobs list` and History's paging.

250 job records are written straight into the store (no runs: the listing is what
is tested), some with the same creation time, so pages must break ties by id.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest
from sqlalchemy import update

from avatar.service.api import create_app
from avatar.service.jobs import JobService, get_service
from avatar.service.keys import LOCAL_OWNER, hash_key, key_owner
from avatar.service.store import JOBS, Cursor, JobStore
from tests.conftest import PROJECT_DIR
from tests.test_api_refusals import Held, assert_one_sentence
from tests.test_cli_talk import run_cli

KEY = "listing-key"
COUNT = 250


def _fill(store: JobStore, owner: str, count: int = COUNT) -> list[str]:
    """`count` finished talk records for `owner`, newest first as a listing shows them; 50 share one creation time."""
    ids = [store.create(owner, "talk", "cpu", {"text": f"Job {n}.", "avatar": "maya"}, []).id for n in range(count)]
    with store.engine.begin() as db:
        for n, job_id in enumerate(ids):
            db.execute(update(JOBS).where(JOBS.c.id == job_id).values(
                created=1_000_000.0 + (0 if n < 50 else n), status="done", stage="done", progress=1.0))
    return [job.id for job in store.list(owner, count)]


def _api(tmp_path) -> tuple[TestClient, JobService]:
    service = JobService(JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}"), Held(), root=tmp_path / "jobs")
    return TestClient(create_app(service, keys=[KEY]), headers={"Authorization": f"Bearer {KEY}"}), service


def test_every_job_is_reachable_through_the_api_pages(tmp_path):
    client, service = _api(tmp_path)
    newest_first = _fill(service.store, key_owner(KEY, [hash_key(KEY)]))
    assert len(set(newest_first)) == COUNT
    _fill(service.store, "someone else", 10)

    first = client.get("/v1/jobs")
    assert len(first.json()) == 100 and first.links["next"]["url"].startswith("/v1/jobs?limit=100&cursor=")

    seen, url, pages = [], "/v1/jobs?limit=40", 0
    while url:
        response = client.get(url)
        assert response.status_code == 200 and isinstance(response.json(), list)
        seen += [job["id"] for job in response.json()]
        url = response.links.get("next", {}).get("url")
        pages += 1
        if pages == 2:  # jobs submitted meanwhile appear on the first page, never shift the later ones
            new = client.post("/v1/jobs/talk", data={"params": '{"text": "New.", "avatar": "maya"}'})
            assert new.status_code == 202, new.text
    assert seen == newest_first and pages == 7  # 6 x 40 + 10, the last page without a next link
    assert client.get("/v1/jobs?limit=1000").headers.get("link") is None
    assert len(client.get("/v1/jobs?limit=1000").json()) == COUNT + 1

    done = client.get("/v1/jobs?status=done&limit=5")
    assert "status=done" in done.links["next"]["url"] and len(done.json()) == 5
    assert [job["id"] for job in client.get("/v1/jobs?status=queued").json()] == [new.json()["id"]]


def test_bad_listing_requests_are_one_sentence(tmp_path):
    client, _ = _api(tmp_path)
    for query, expected in [("limit=0", "limit must be a whole number from 1 to 1000, not '0'."),
                            ("limit=lots", "limit must be a whole number from 1 to 1000, not 'lots'."),
                            ("limit=1001", "limit must be a whole number from 1 to 1000"),
                            ("cursor=yesterday", "'yesterday' is not a listing cursor"),
                            ("cursor=nan_abc", "is not a listing cursor"),
                            ("cursor=" + "9" * 5000, "is not a listing cursor"),
                            ("status=sleeping", "status must be one of queued, running, done, failed, cancelled")]:
        detail = assert_one_sentence(client.get(f"/v1/jobs?{query}"))
        assert detail.startswith(expected) or (expected.startswith("is") and expected in detail), query


def test_the_cursor_reads_back_what_it_wrote():
    cursor = Cursor(1796198262.0615551, "ab12")
    assert Cursor.parse(str(cursor)) == cursor


def test_every_job_is_reachable_through_avatar_jobs_list():
    store = get_service(resume=False).store
    newest_first = _fill(store, LOCAL_OWNER)

    everything = run_cli("jobs", "list", "--limit", "0")
    assert everything.returncode == 0, everything.stderr
    assert [line.split()[0] for line in everything.stdout.splitlines()[1:]] == newest_first

    seen, args = [], ["--limit", "100"]
    while True:
        page = run_cli("jobs", "list", *args)
        assert page.returncode == 0, page.stderr
        lines = page.stdout.splitlines()
        more = lines[-1].startswith("Older jobs: ")
        seen += [line.split()[0] for line in lines[1:len(lines) - more]]
        if not more:
            break
        args = lines[-1].removeprefix("Older jobs: avatar jobs list ").split()
    assert seen == newest_first
    wrong = run_cli("jobs", "list", "--before", "soon")
    assert wrong.returncode == 2 and wrong.stderr.strip() == (
        "error: 'soon' is not a listing cursor; use the one the previous page gave.")


def test_every_job_is_reachable_through_the_history_pages():
    from ui.history import HISTORY_PAGE, history_page

    owner = "session:" + "c" * 32
    service = get_service(resume=False)
    newest_first = _fill(service.store, owner)
    seen, before = [], None
    while True:
        page = history_page(service, owner, before)
        seen += [job.id for job in page.jobs]
        if page.older is None:
            break
        assert len(page.jobs) == HISTORY_PAGE
        before = page.older
    assert seen == newest_first

    at = AppTest.from_file(str(PROJECT_DIR / "app_pages" / "history.py"), default_timeout=120)
    at.query_params["s"] = "c" * 32
    at.run()
    assert not at.exception

    def shown() -> int:
        return len([m for m in at.markdown if m.value.startswith("**Talking video**")])

    assert shown() == HISTORY_PAGE and not [b for b in at.button if b.label == "Newer jobs"]
    pages = 1
    while older := [b for b in at.button if b.label == "Older jobs"]:
        older[0].click().run()
        assert not at.exception and shown() > 0
        pages += 1
    assert pages == 5 and shown() == COUNT - 4 * HISTORY_PAGE
    next(b for b in at.button if b.label == "Newer jobs").click().run()
    assert shown() == HISTORY_PAGE
