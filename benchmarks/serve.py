"""Many users at once: `python -m benchmarks.serve` (needs Debian's redis-server).

Starts, in a temporary folder, a real `redis-server`, two `avatar worker`
processes and `avatar serve` on loopback ports, then submits --jobs talking-video
jobs at once from --jobs client threads through the HTTP API (a default avatar, a
short sentence each, 256 px). It follows every job to its end and reports:

- lost jobs (submitted but not done): must be 0;
- queue wait (job started - job created) p50 / p95, in seconds;
- time to the result (done - created) p50 / p95;
- throughput: jobs per minute from the first job created to the last one finished.

Each of --runs runs starts its cluster from scratch; the table gives every run and
the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

KEY = "benchmark-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def run_once(jobs: int, workers: int) -> dict[str, float]:
    """One cluster from scratch, `jobs` submissions at once; the figures of that run."""
    import httpx

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        redis_port, api_port = free_port(), free_port()
        env = {**os.environ, "AVATAR_OUTPUTS": str(root / "outputs"), "AVATAR_CHECKPOINTS": str(root / "checkpoints"),
               "AVATAR_BROKER": f"redis://127.0.0.1:{redis_port}/0", "AVATAR_API_KEYS": KEY,
               "AVATAR_MAX_ACTIVE_JOBS": str(jobs)}
        processes = [subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL)]
        try:
            time.sleep(0.5)
            for index in range(workers):
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "avatar.commands.worker", "--queues", "cpu,gpu", "--name", f"w{index}"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            processes.append(subprocess.Popen([sys.executable, "-m", "avatar.commands.serve", "--port", str(api_port)],
                                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            base = f"http://127.0.0.1:{api_port}"
            wait_http(f"{base}/v1/health")
            time.sleep(3)  # the workers connect to the broker
            headers = {"Authorization": f"Bearer {KEY}"}

            def submit(index: int) -> str:
                params = {"text": f"Hello, this is job number {index + 1}.", "avatar": "maya", "size": 256}
                response = httpx.post(f"{base}/v1/jobs/talk", data={"params": json.dumps(params)},
                                      headers=headers, timeout=60)
                response.raise_for_status()
                return response.json()["id"]

            with ThreadPoolExecutor(jobs) as pool:
                ids = list(pool.map(submit, range(jobs)))
            records: dict[str, dict] = {}
            deadline = time.monotonic() + 60 * jobs
            while len(records) < len(ids) and time.monotonic() < deadline:
                for job_id in ids:
                    if job_id not in records:
                        record = httpx.get(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
                        if record["status"] in ("done", "failed", "cancelled"):
                            records[job_id] = record
                time.sleep(0.1)
            last = max((r["finished"] for r in records.values()), default=time.time())
            first = min(r["created"] for r in records.values()) if records else last
        finally:
            for process in reversed(processes):
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
    done = [r for r in records.values() if r["status"] == "done"]
    waits = [r["started"] - r["created"] for r in done]
    totals = [r["finished"] - r["created"] for r in done]
    return {"done": len(done), "lost": jobs - len(done), "wait_p50": statistics.median(waits),
            "wait_p95": percentile(waits, 0.95), "total_p50": statistics.median(totals),
            "total_p95": percentile(totals, 0.95), "per_min": 60 * len(done) / max(last - first, 1e-9)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="clusters started from scratch; medians are reported")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed; apt-get install redis-server")
    runs = [run_once(args.jobs, args.workers) for _ in range(args.runs)]
    print(f"{args.jobs} talking-video jobs submitted at once through the API, {args.workers} workers, "
          f"{os.cpu_count()} cores, {args.runs} runs\n")
    print("| run | done | lost | queue wait p50 / p95 s | to result p50 / p95 s | throughput jobs/min |")
    print("|---|---|---|---|---|---|")
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    for name, row in [*((str(i + 1), run) for i, run in enumerate(runs)), ("median", median)]:
        print(f"| {name} | {row['done']:g} | {row['lost']:g} | {row['wait_p50']:.1f} / {row['wait_p95']:.1f} | "
              f"{row['total_p50']:.1f} / {row['total_p95']:.1f} | {row['per_min']:.1f} |")


if __name__ == "__main__":
    main()
