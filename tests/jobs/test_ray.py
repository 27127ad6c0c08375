"""run_jobs with the Ray executor against a real one-node cluster on loopback: same manifest semantics."""

import pytest

from gfx.jobs import read_manifest, run_jobs
from gfx.jobs.ray_executor import RayExecutor, local_cluster

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_address():
    with local_cluster(num_cpus=2) as address:
        yield address


@pytest.fixture
def ray_test_kinds(test_kinds):
    """The misbehaving kinds, pickled by value: the cluster's workers cannot import tests/."""
    import jobs_test_kinds
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(jobs_test_kinds)
    yield test_kinds
    ray.cloudpickle.unregister_pickle_by_value(jobs_test_kinds)


def test_mixed_batch_crashes_and_resume_on_ray(tmp_path, mixed_batch, ray_test_kinds, ray_address):
    misbehaving = []  # quick "ok" jobs around each misbehaving one, so that it runs inside a chunk
    for how in ("exit", "segfault", "hang", "raise"):
        misbehaving += [{"id": f"ok-{how}-{i}", "kind": "misbehave", "how": "ok"} for i in range(20)]
        misbehaving.append({"id": how, "kind": "misbehave", "how": how})
    n_ok = len(misbehaving) - 4
    jobs, good, expected = mixed_batch(40, sizes=(24,), extra_rows=misbehaving)
    out = tmp_path / "out"
    sent = []
    original_submit = RayExecutor.submit
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            RayExecutor, "submit", lambda self, chunk: sent.append(len(chunk)) or original_submit(self, chunk)
        )
        summary = run_jobs(
            jobs, out, executor="ray", address=ray_address, timeout=8, max_retries=0, kinds=ray_test_kinds
        )
    assert max(sent) > 5  # chunks did form
    assert (summary.ok, summary.skipped, summary.failed) == (40 + n_ok, 0, len(expected) + 4)
    records = {r["id"]: r for r in read_manifest(summary.manifest)}
    assert len(records) == len(list(read_manifest(summary.manifest))) == 40 + n_ok + len(expected) + 4
    for row in misbehaving[:-1]:
        if row["how"] == "ok":
            assert records[row["id"]]["status"] == "ok"
    for job_id in good:
        assert records[job_id]["status"] == "ok" and records[job_id]["outputs"] == [f"{job_id}-24.png"]
        assert (out / f"{job_id}-24.png").read_bytes().startswith(b"\x89PNG")
    for job_id, fragment in expected.items():
        assert records[job_id]["status"] == "error" and fragment in records[job_id]["error"], records[job_id]
    errors = {how: records[how]["error"] for how in ("exit", "segfault", "hang", "raise")}
    assert errors == {
        "exit": "worker process died (WorkerCrashedError)",
        "segfault": "worker process died (WorkerCrashedError)",
        "hang": "timed out after 8 s; its Ray task was cancelled",
        "raise": "RuntimeError: handler raised on purpose",
    }
    ok_files = {f"{row['id']}.txt" for row in misbehaving if row["how"] == "ok"}
    assert {p.name for p in out.iterdir()} == {"manifest.jsonl", ".lock"} | {
        f"{i}-24.png" for i in good
    } | ok_files

    again = run_jobs(jobs, out, executor="ray", address=ray_address, max_retries=0, kinds=ray_test_kinds)
    assert (again.ok, again.skipped, again.failed) == (0, 40 + n_ok, len(expected) + 4)
    assert len(list(read_manifest(summary.manifest))) == len(records)  # out of retries: nothing re-run
