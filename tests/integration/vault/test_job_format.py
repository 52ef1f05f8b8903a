"""Jobs are JSON: the worker never unpickles what a process with the Redis password
wrote (real Redis, the worker as `backupctl worker` builds it).

Both apps hold the Redis password; the worker alone holds the notification secrets and
shreds. A pickled job would run code as the worker when read (vault/job_queue.py).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import PickleSerializer
from sqlalchemy import select

from composition import jobs as worker_jobs
from composition.runtime import Runtime
from vault import codenames
from vault.job_queue import JOB_SERIALIZER
from vault.models import Submission
from vault.services import deletion, sources


class _Touch:
    """Unpickled, it creates `path`: what an attacker's job would run instead."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.path),))


def test_a_pickled_job_is_never_unpickled_and_json_jobs_still_run(
    runtime: Runtime, tmp_path: Path
) -> None:
    marker = tmp_path / "ran-as-the-worker"
    forged = Job.create(
        "vault.jobs.delete_submission",
        args=(_Touch(marker),),
        connection=runtime.redis,
        serializer=PickleSerializer,
        id="forged-pickle",
    )
    Queue(deletion.QUEUE_NAME, connection=runtime.redis).enqueue_job(forged)

    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        [sub] = sources.submit(db, runtime.store, source, runtime.submission_fingerprint, "x", [])
        path = runtime.store.path_of(source.uuid, sub.filename)
        deletion.request_submission_deletion(db, runtime.redis, sub)
        sub_uuid = sub.uuid
    queued = runtime.redis.hget(f"rq:job:delete-submission-{sub_uuid}", "data")
    assert isinstance(queued, bytes)
    # RQ compresses a job's data; inside, JSON, readable as such.
    assert json.loads(zlib.decompress(queued))[0] == "vault.jobs.delete_submission"

    worker_jobs.worker(runtime, [deletion.queue(runtime.redis)]).work(burst=True)

    assert not marker.exists()  # the forged job's payload never ran
    status = Job.fetch("forged-pickle", connection=runtime.redis, serializer=JOB_SERIALIZER)
    assert status.get_status() == JobStatus.FAILED
    assert not path.exists()  # the real deletion ran after it
    with runtime.session() as db:
        assert db.scalar(select(Submission).where(Submission.uuid == sub_uuid)) is None
