"""The job store on a real PostgreSQL server (`AVATAR_DATABASE_URL=postgresql+psycopg://...`), as on SQLite.

The server is Debian's `postgresql`, started once for this module on a free port in a temporary folder
(tests/postgres_server.py); each test gets an empty database of its own. The races are real: two stores (two
connection pools, as two worker processes have) in two threads act on the same rows at once. Then the scale-out
tests run against it: the API server and two Celery workers sharing the PostgreSQL database, 20 jobs submitted at
once, a worker killed mid-job, a running job cancelled, and nothing lost.

Without PostgreSQL (or the psycopg driver) these tests are skipped, except under CI=true, where they fail.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest
from sqlalchemy import inspect, text, update

from avatar.service.store import JOBS, Cursor, JobStore
from tests.postgres_server import PostgresServer, require_postgres

OWNER = "key:postgres-test"
_names = itertools.count()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    require_postgres()
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database(postgres) -> str:
    """The URL of an empty database of this test's own."""
    return postgres.database(f"jobs_{next(_names)}")


@pytest.fixture
def stores(database) -> Iterator[Callable[[], JobStore]]:
    """Makes stores on the test's database (each its own engine, as each process has), and closes them after."""
    made: list[JobStore] = []

    def make() -> JobStore:
        made.append(JobStore(database))
        return made[-1]

    yield make
    for store in made:
        store.engine.dispose()


def _together(*actions: Callable[[], object]) -> list:
    """Run the actions in threads released at the same moment; their results in order (an exception re-raised)."""
    start, results, errors = threading.Barrier(len(actions)), [None] * len(actions), []

    def run(index: int, action: Callable[[], object]) -> None:
        start.wait()
        try:
            results[index] = action()
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def _jobs(store: JobStore, count: int, owner: str = OWNER) -> list[str]:
    return [store.create(owner, "talk", "cpu", {"text": f"Job {n}.", "avatar": "maya"}, []).id for n in range(count)]


def test_processes_that_open_an_empty_database_together_all_start(database):
    """A server and its workers starting at once on a new database: each checks for the table and creates it if
    missing; without the store's lock, all but one of them failed ("relation jobs already exists")."""
    stores = _together(*[lambda: JobStore(database) for _ in range(6)])
    try:
        indexes = {index["name"] for index in inspect(stores[0].engine).get_indexes("jobs")}
        assert {"jobs_owner_created", "jobs_created"} <= indexes
        columns = {column["name"]: column["type"] for column in inspect(stores[0].engine).get_columns("jobs")}
        assert columns["created"].python_type is float and getattr(columns["created"], "precision", 53) == 53
    finally:
        for store in stores:
            store.engine.dispose()


def test_two_workers_racing_for_every_job_each_job_goes_to_exactly_one(stores):
    first, second = stores(), stores()
    ids = _jobs(first, 60)

    def claim_all(store: JobStore, worker: str) -> list[str]:
        return [job_id for job_id in ids if store.claim(job_id, worker)]

    won_a, won_b = _together(lambda: claim_all(first, "worker-a"), lambda: claim_all(second, "worker-b"))
    assert sorted(won_a + won_b) == sorted(ids) and not set(won_a) & set(won_b)
    for job_id in ids:
        record = first.get(job_id)
        assert record.status == "running" and record.attempts == 1
        assert record.worker == ("worker-a" if job_id in won_a else "worker-b")
    assert not first.claim(ids[0], "worker-c") and first.get(ids[0]).attempts == 1


def test_a_job_finished_and_cancelled_at_the_same_moment_ends_one_way(stores):
    """Each job's worker finishes it while its owner cancels it: exactly one of the two succeeds, and the record
    says which (never done with a cancel that was accepted, or the other way round)."""
    runner, client = stores(), stores()
    ids = _jobs(runner, 60)
    for job_id in ids:
        assert runner.claim(job_id, "worker-a")
    finished, cancelled = _together(
        lambda: [runner.finish(job_id, ["video.mp4"], worker="worker-a") for job_id in ids],
        lambda: [client.cancel(job_id) for job_id in reversed(ids)])
    cancelled.reverse()
    assert all(done != stopped for done, stopped in zip(finished, cancelled))
    for job_id, done in zip(ids, finished):
        record = runner.get(job_id)
        assert record.status == ("done" if done else "cancelled") and record.finished is not None
        assert record.results == (["video.mp4"] if done else [])


def test_a_run_that_lost_its_job_can_neither_report_nor_end_it(stores):
    """Run w1 is given up for dead (re-queued) and w2 takes the job: w1's progress, finish, fail and re-queue all
    change nothing; w2's do. A cancel ends the run; a late finish cannot undo it."""
    store = stores()
    (job_id,) = _jobs(store, 1)
    assert store.claim(job_id, "w1") and store.progress(job_id, "animating", 0.4, worker="w1")
    assert store.requeue(job_id, worker="w1") and store.get(job_id).status == "queued"
    assert store.claim(job_id, "w2")

    assert not store.progress(job_id, "late", 0.9, worker="w1")
    assert not store.finish(job_id, ["video.mp4"], worker="w1")
    assert not store.fail(job_id, "w1 gave up", worker="w1")
    assert not store.requeue(job_id, worker="w1")
    record = store.get(job_id)
    assert (record.status, record.worker, record.attempts, record.stage, record.progress) == (
        "running", "w2", 2, "starting", 0.0)

    assert store.progress(job_id, "animating", 0.5, worker="w2")
    assert store.cancel(job_id)
    assert not store.finish(job_id, ["video.mp4"], worker="w2") and not store.progress(job_id, "x", 0.6, "w2")
    assert not store.requeue(job_id, worker="w2") and not store.claim(job_id, "w3") and not store.cancel(job_id)
    record = store.get(job_id)
    assert record.status == "cancelled" and record.results == [] and record.progress == 0.5


def test_a_failure_is_recorded_even_with_characters_postgresql_refuses(stores):
    """PostgreSQL refuses NUL characters in text; an error message carrying one still fails the job (it would
    otherwise stay running for ever)."""
    store = stores()
    queued, running = _jobs(store, 2)
    assert store.cancel(queued) and store.get(queued).status == "cancelled" and not store.claim(queued, "w1")
    assert store.claim(running, "w1") and store.progress(running, "reading\x00audio", 0.2, worker="w1")
    assert store.fail(running, "The audio file is damaged (b'RIFF\x00\x00').", worker="w1")
    record = store.get(running)
    assert record.status == "failed" and record.message == "The audio file is damaged (b'RIFF\ufffd\ufffd')."
    assert not store.finish(running, ["video.mp4"], worker="w1") and not store.claim(running, "w2")


def test_listing_pages_reach_every_job_once_in_order(stores):
    """250 jobs, 50 of them created at the same instant (ties broken by id), walked 40 at a time by the cursor in
    its text form, as the API hands it out; a status filter and another owner's jobs; the counts."""
    store = stores()
    ids = _jobs(store, 250)
    with store.engine.begin() as db:
        for n, job_id in enumerate(ids):
            db.execute(update(JOBS).where(JOBS.c.id == job_id).values(
                created=1_700_000_000.123456789 + (0 if n < 50 else n * 0.001)))
    others = _jobs(store, 7, owner="key:someone-else")
    for job_id in ids[::10]:
        assert store.claim(job_id, "w1") and store.fail(job_id, "Nope.", worker="w1")

    everything = store.list(OWNER, limit=1000)
    expected = sorted(everything, key=lambda job: (job.created, job.id), reverse=True)
    assert [job.id for job in everything] == [job.id for job in expected] and len(everything) == 250

    def walk(**filters) -> list[str]:
        seen, cursor = [], None
        while True:
            page = store.list(OWNER, limit=40, before=cursor, **filters)
            seen += [job.id for job in page]
            if len(page) < 40:
                return seen
            cursor = Cursor.parse(str(page[-1].cursor))

    assert walk() == [job.id for job in everything]
    assert walk(status="failed") == [job.id for job in everything if job.id in set(ids[::10])]
    assert store.count(OWNER) == 250 and store.count_active(OWNER) == 225 and sorted(store.ids(OWNER)) == sorted(ids)
    assert len(store.list(None, limit=1000)) == 257
    waiting = [job for job in store.unfinished() if job.owner == "key:someone-else"]
    assert [job.id for job in waiting] == others and store.place_in_line(waiting[2]) == 3 + 225


def test_the_api_pages_through_jobs_stored_in_postgresql(database, tmp_path):
    from fastapi.testclient import TestClient

    from avatar.service.api import create_app
    from avatar.service.jobs import JobService
    from avatar.service.keys import hash_key, key_owner
    from tests.test_api_refusals import Held

    key = "postgres-listing-key"
    service = JobService(JobStore(database), Held(), root=tmp_path / "jobs")
    try:
        ids = _jobs(service.store, 45, owner=key_owner(key, [hash_key(key)]))
        for job_id in ids:  # ended, so the key may submit again below
            assert service.store.cancel(job_id)
        client = TestClient(create_app(service, keys=[key]), headers={"Authorization": f"Bearer {key}"})
        seen, url = [], "/v1/jobs?limit=20"
        while url:
            response = client.get(url)
            assert response.status_code == 200, response.text
            seen += [job["id"] for job in response.json()]
            url = response.links.get("next", {}).get("url")
        assert seen == ids[::-1]
        new = client.post("/v1/jobs/talk", data={"params": '{"text": "New.", "avatar": "maya"}'})
        assert new.status_code == 202, new.text
        assert client.get(f"/v1/jobs/{new.json()['id']}").json()["status"] == "queued"
    finally:
        service.store.engine.dispose()


def test_database_health_checks_fit_postgresql(stores, tmp_path):
    """SQLite's damage words do not misfire on a server's ordinary errors ("malformed array literal"); a server's
    damage (SQLSTATE XX001, data_corrupted) is one sentence; the integrity check is the server's own; an empty
    database beside job folders is noticed; `avatar jobs repair` refuses a server database."""
    from sqlalchemy.exc import DataError

    from avatar.errors import InputError
    from avatar.service.repair import needs_repair, repair_database
    from avatar.service.store_health import DatabaseDamaged, check_integrity, check_not_lost

    store = stores()
    with pytest.raises(DataError, match="malformed array literal"), store.engine.connect() as db:
        db.execute(text("SELECT '{1,2'::int[]"))
    with pytest.raises(DatabaseDamaged) as damaged, store.engine.connect() as db:
        db.execute(text("DO $$ BEGIN RAISE EXCEPTION 'invalid page in block 7 of relation base/16384/16385' "
                        "USING ERRCODE = 'XX001'; END $$"))
    assert str(damaged.value) == ("The job database is damaged (invalid page in block 7 of relation "
                                  "base/16384/16385); restore it from your database's backups, then start the "
                                  "studio again.")
    check_integrity(store.engine, store.url)

    root = tmp_path / "jobs"
    assert needs_repair(store.url, root) is None
    (root / "0123abcd" / "results").mkdir(parents=True)
    with pytest.raises(DatabaseDamaged, match=r"^The job database has no jobs, but .* holds 1 job folder:"):
        check_not_lost(store.engine, JOBS, store.url, root)
    _jobs(store, 1)
    check_not_lost(store.engine, JOBS, store.url, root)
    with pytest.raises(InputError, match="Only a SQLite job database can be repaired"):
        repair_database(store.url, root)


def test_the_tests_install_the_driver_the_postgres_extra_pins():
    """A user choosing PostgreSQL installs the `postgres` extra; the tests must prove that same driver."""
    import tomllib

    from tests.conftest import PROJECT_DIR

    extra = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["optional-dependencies"]["postgres"]
    assert extra and set(extra) <= set((PROJECT_DIR / "requirements-test.txt").read_text().splitlines())


# -- the scale-out tests, on PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(postgres, tmp_path_factory):
    """Redis, two `avatar worker` processes and the job service, all on one PostgreSQL database."""
    from tests.test_workers import Cluster, redis_server

    redis_server()
    cluster = Cluster(Path(tmp_path_factory.mktemp("postgres-workers")), database=postgres.database("cluster"))
    try:
        cluster.ensure_workers()
        yield cluster
    finally:
        cluster.stop()
        cluster.store.engine.dispose()


def test_twenty_jobs_submitted_at_once_through_the_api_all_complete_on_postgresql(cluster):
    from tests.test_workers import twenty_jobs_at_once_through_the_api

    assert cluster.database.startswith("postgresql+psycopg://")
    twenty_jobs_at_once_through_the_api(cluster)
    assert not list(cluster.outputs.glob("*.sqlite3"))  # the server and both workers kept every record there


def test_a_cancelled_running_job_stays_cancelled_on_postgresql(cluster):
    from tests.test_workers import cancelled_running_job_is_removed

    cancelled_running_job_is_removed(cluster)


def test_a_killed_workers_job_completes_once_on_the_other_worker_on_postgresql(cluster):
    from tests.test_workers import killed_workers_job_completes_on_the_other

    killed_workers_job_completes_on_the_other(cluster)
    assert cluster.store.unfinished() == []  # nothing left queued or running by any of these tests
