"""run_jobs with the local executor: bad items become error records, crashes and hangs are contained,
re-runs resume, and a kill at any moment leaves nothing partial."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from gfx.jobs import JOB_KINDS, read_manifest, run_jobs
from gfx.jobs.local_executor import LocalExecutor
from gfx.svg.core.render import render

GFX = [sys.executable, "-m", "gfx"]


def png(path):
    with Image.open(path) as image:
        image.load()  # a truncated file raises here
        return np.asarray(image)


def records_by_id(manifest):
    by_id = {}
    for record in read_manifest(manifest):
        by_id.setdefault(record["id"], []).append(record)
    return by_id


def final_files(out):
    """Relative paths of every file under `out` except the run's own bookkeeping."""
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {"manifest.jsonl", ".lock"}


@pytest.mark.parametrize("n", [200, pytest.param(1000, marks=pytest.mark.slow)])
def test_mixed_batch_then_reruns(tmp_path, mixed_batch, n):
    jobs, good, expected = mixed_batch(n, sizes=(24, 40))
    out = tmp_path / "out"
    calls = []
    summary = run_jobs(jobs, out, workers=2, max_retries=1, progress=lambda *args: calls.append(args))
    total = n + len(expected)
    assert (summary.total, summary.ok, summary.skipped, summary.failed) == (total, n, 0, len(expected))
    assert calls[0] == (0, total, "jobs.jsonl") and calls[-1] == (total, total, "jobs.jsonl")
    assert [done for done, _, _ in calls] == sorted(done for done, _, _ in calls)

    by_id = records_by_id(summary.manifest)
    assert set(by_id) == set(good) | set(expected)
    assert final_files(out) == {
        f"{i}-{size}.png" for i in good for size in (24, 40)
    }  # no temp or partial files
    for job_id in good:
        [record] = by_id[job_id]
        assert record["status"] == "ok" and record["attempt"] == 1 and record["error"] is None
        assert record["outputs"] == [f"{job_id}-24.png", f"{job_id}-40.png"]
        assert record["inputs"] == {"input": str(tmp_path / "icons" / f"{job_id}.svg")}
        assert png(out / f"{job_id}-40.png").shape == (40, 40, 3)  # opaque background: cairosvg writes RGB
    for job_id in good[:5]:  # the same pixels as rendering directly
        expected_image = render((tmp_path / "icons" / f"{job_id}.svg").read_text(), size=24)[..., :3]
        np.testing.assert_array_equal(png(out / f"{job_id}-24.png"), expected_image)
    for job_id, fragment in expected.items():
        [record] = by_id[job_id]
        assert record["status"] == "error" and record["outputs"] == [] and fragment in record["error"], record

    # Re-run: good jobs are skipped, bad ones get their one retry; then they are out of retries.
    again = run_jobs(jobs, out, workers=2, max_retries=1)
    assert (again.ok, again.skipped, again.failed) == (0, n, len(expected))
    by_id = records_by_id(summary.manifest)
    assert {job_id: [r["attempt"] for r in rs] for job_id, rs in by_id.items() if job_id in expected} == {
        job_id: [1, 2] for job_id in expected
    }
    assert all(len(by_id[job_id]) == 1 for job_id in good)
    size = summary.manifest.stat().st_size
    third = run_jobs(jobs, out, workers=2, max_retries=1)
    assert (third.ok, third.skipped, third.failed) == (0, n, len(expected))
    assert summary.manifest.stat().st_size == size  # nothing was attempted


def test_crashes_and_hangs_become_error_records(tmp_path, mixed_batch, test_kinds):
    bad = [{"id": how, "kind": "misbehave", "how": how} for how in ("exit", "segfault", "hang", "raise")]
    jobs, good, expected = mixed_batch(30, extra_rows=bad)
    out = tmp_path / "out"
    start = time.monotonic()
    summary = run_jobs(jobs, out, workers=2, timeout=3, kinds=test_kinds)
    assert time.monotonic() - start < 30
    assert (summary.ok, summary.failed) == (30, len(expected) + 4)
    errors = {job_id: rs[-1]["error"] for job_id, rs in records_by_id(summary.manifest).items()}
    assert {job_id: errors[job_id] for job_id in ("exit", "segfault", "hang", "raise")} == {
        "exit": "worker process died with exit code 3",
        "segfault": "worker process died from signal SIGSEGV",
        "hang": "timed out after 3 s; its worker was stopped",
        "raise": "RuntimeError: handler raised on purpose",
    }
    assert all(errors[job_id] is None for job_id in good)
    assert len(final_files(out)) == 30


def test_rerun_retries_failures_and_redoes_missing_outputs(tmp_path, mixed_batch):
    later = {
        "id": "later",
        "kind": "render-svg",
        "input": "icons/later.svg",
        "sizes": [16],
        "output": "sub/dir/late",
    }
    jobs, good, _ = mixed_batch(3, extra_rows=[later])
    out = tmp_path / "out"
    first = run_jobs(jobs, out, workers=1)
    assert "later" in first.failed_ids
    (tmp_path / "icons" / "later.svg").write_text((tmp_path / "icons" / "icon0.svg").read_text())
    (out / "icon1-32.png").unlink()
    second = run_jobs(jobs, out, workers=1)
    assert (second.ok, second.skipped) == (2, 2)
    by_id = records_by_id(first.manifest)
    assert [(r["status"], r["attempt"]) for r in by_id["later"]] == [("error", 1), ("ok", 2)]
    assert [(r["status"], r["attempt"]) for r in by_id["icon1"]] == [("ok", 1), ("ok", 2)]
    assert png(out / "icon1-32.png").shape == (32, 32, 3) and png(out / "sub/dir/late-16.png").shape == (
        16,
        16,
        3,
    )


def test_one_run_at_a_time_per_output_folder(tmp_path, mixed_batch):
    jobs, _, _ = mixed_batch(4)
    out = tmp_path / "out"
    refused = []

    def progress(done, total, label):
        if done == 1 and not refused:
            with pytest.raises(ValueError, match="is in use by another gfx jobs run") as caught:
                run_jobs(jobs, out, workers=1)
            refused.append(caught.value)

    run_jobs(jobs, out, workers=1, progress=progress)
    assert refused
    assert run_jobs(jobs, out, workers=1).skipped == 4  # released afterwards


def test_cli_exit_codes(tmp_path, mixed_batch):
    jobs, good, _ = mixed_batch(3)
    good_only = tmp_path / "good.jsonl"
    good_only.write_text("".join(line for line in jobs.read_text().splitlines(True) if '"id": "icon' in line))
    result = subprocess.run(
        [*GFX, "render", good_only, "-o", tmp_path / "out"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.splitlines()[-1]
        == f"3 ok, 0 already done, 0 failed; {tmp_path / 'out' / 'manifest.jsonl'}"
    )

    typo = tmp_path / "typo.jsonl"
    typo.write_text(good_only.read_text() + json.dumps({"kind": "rendr-svg", "input": "a.svg"}) + "\n")
    result = subprocess.run(
        [*GFX, "render", typo, "-o", tmp_path / "out2"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    valid = ", ".join(JOB_KINDS)
    assert result.stderr == f"gfx: error: {typo}: line 4: unknown kind 'rendr-svg'; valid kinds: {valid}\n"
    assert not (tmp_path / "out2" / "manifest.jsonl").exists()


def test_kill_midway_then_rerun_finishes_without_redoing_work(tmp_path, mixed_batch):
    jobs, good, expected = mixed_batch(200, sizes=(128, 256))  # big enough renders that the kill lands midway
    out = tmp_path / "out"
    command = [*GFX, "render", jobs, "-o", out, "--workers", "2"]
    run = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 120
    while not manifest.exists() or manifest.read_bytes().count(b"\n") < 40:
        assert run.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGKILL)  # the CLI, its forkserver and its workers, mid-write
    run.wait()

    finished = {r["id"] for r in read_manifest(manifest) if r["status"] == "ok"}
    print(f"killed after {len(finished)} of 200 good jobs")
    assert 40 - len(expected) <= len(finished) < 200
    for name in final_files(out):
        if not os.path.basename(name).startswith(".tmp-"):
            assert png(out / name).shape in ((128, 128, 3), (256, 256, 3))  # complete under every final name
    mtimes = {name: (out / name).stat().st_mtime_ns for job_id in finished for name in (f"{job_id}-128.png",)}

    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1  # the bad inputs failed
    assert result.stdout.splitlines()[-1].startswith(
        f"{200 - len(finished)} ok, {len(finished)} already done, {len(expected)} failed;"
    )
    by_id = records_by_id(manifest)
    for job_id in good:
        assert [r["status"] for r in by_id[job_id]] == ["ok"], job_id  # never redone
    assert {name: (out / name).stat().st_mtime_ns for name in mtimes} == mtimes
    assert final_files(out) == {f"{i}-{size}.png" for i in good for size in (128, 256)}


def test_crash_or_hang_inside_a_chunk_fails_only_that_job(tmp_path, test_kinds):
    # Quick "ok" jobs make chunks of many jobs, so each misbehaving job runs mid-chunk.
    rows = []
    for how in ("exit", "segfault", "hang", "raise", None):
        rows += [{"id": f"ok{len(rows) + i}", "kind": "misbehave", "how": "ok"} for i in range(40)]
        if how:
            rows.append({"id": how, "kind": "misbehave", "how": how})
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out"
    sent = []
    original_submit = LocalExecutor.submit
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            LocalExecutor,
            "submit",
            lambda self, chunk: sent.append(len(chunk)) or original_submit(self, chunk),
        )
        summary = run_jobs(jobs, out, workers=2, timeout=3, kinds=test_kinds)
    assert max(sent) > 10  # chunks did form
    assert (summary.ok, summary.failed) == (200, 4)
    by_id = records_by_id(summary.manifest)
    assert {how: [r["error"] for r in by_id[how]] for how in ("exit", "segfault", "hang", "raise")} == {
        "exit": ["worker process died with exit code 3"],
        "segfault": ["worker process died from signal SIGSEGV"],
        "hang": ["timed out after 3 s; its worker was stopped"],
        "raise": ["RuntimeError: handler raised on purpose"],
    }
    ok_ids = [row["id"] for row in rows if row["how"] == "ok"]
    assert all([(r["status"], r["attempt"]) for r in by_id[job_id]] == [("ok", 1)] for job_id in ok_ids)
    assert final_files(out) == {f"{job_id}.txt" for job_id in ok_ids}


def test_workers_preload_only_the_kinds_the_file_uses(tmp_path, mixed_batch, monkeypatch):
    """A render-svg batch must not import the model kinds' modules (torch) into its workers."""
    import gfx.jobs.run

    given = []

    class Recording(LocalExecutor):
        def __init__(self, out_dir, kinds, *args, **kwargs):
            given.append(sorted(kinds))
            super().__init__(out_dir, kinds, *args, **kwargs)

    monkeypatch.setattr(gfx.jobs.run, "LocalExecutor", Recording)
    jobs, good, _ = mixed_batch(2)
    summary = run_jobs(jobs, tmp_path / "out", workers=1)
    assert given == [["render-svg"]] and summary.ok == len(good)
