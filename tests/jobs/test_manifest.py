"""The manifest: durable appends, tolerant reads, and the resume state derived from it."""

import logging

from gfx.jobs.manifest import MANIFEST_NAME, ManifestWriter, manifest_state, read_manifest


def record(job_id, status="ok", outputs=(), attempt=1):
    return {
        "id": job_id,
        "kind": "render-svg",
        "line": 1,
        "inputs": {},
        "outputs": list(outputs),
        "status": status,
        "error": None if status == "ok" else "SVGError: bad",
        "seconds": 0.01,
        "attempt": attempt,
    }


def test_round_trip(tmp_path):
    path = tmp_path / MANIFEST_NAME
    with ManifestWriter(path) as writer:
        writer.append(record("a"))
        writer.append(record("b", "error"))
    with ManifestWriter(path) as writer:  # reopening appends
        writer.append(record("b", attempt=2))
        writer.append_all([])
        writer.append_all([record("c"), record("d", "error")])  # a chunk's records in one write
    assert list(read_manifest(path)) == [
        record("a"),
        record("b", "error"),
        record("b", attempt=2),
        record("c"),
        record("d", "error"),
    ]
    assert path.read_bytes().count(b"\n") == 5
    assert list(read_manifest(tmp_path / "absent.jsonl")) == []


def test_torn_last_line_is_ignored_then_cut_off(tmp_path, caplog):
    path = tmp_path / MANIFEST_NAME
    with ManifestWriter(path) as writer:
        writer.append(record("a"))
    good = path.read_bytes()
    path.write_bytes(good + b'{"id": "b", "kind": "rend')  # a run killed mid-write
    assert [r["id"] for r in read_manifest(path)] == ["a"]
    with caplog.at_level(logging.WARNING), ManifestWriter(path) as writer:
        writer.append(record("c"))
    assert "ends in a partial record" in caplog.text
    assert path.read_bytes().startswith(good) and path.read_bytes().count(b"\n") == 2
    assert [r["id"] for r in read_manifest(path)] == ["a", "c"]


def test_garbled_middle_line_is_skipped_with_a_warning(tmp_path, caplog):
    path = tmp_path / MANIFEST_NAME
    path.write_text('{"id": "a", "status": "ok"}\nnot json\n[1, 2]\n{"id": "b", "status": "ok"}\n')
    with caplog.at_level(logging.WARNING):
        assert [r["id"] for r in read_manifest(path)] == ["a", "b"]
    assert "line 2 is not a manifest record" in caplog.text and "line 3 is not" in caplog.text


def test_state_checks_outputs_and_counts_attempts(tmp_path):
    (tmp_path / "a-64.png").write_bytes(b"png")
    with ManifestWriter(tmp_path / MANIFEST_NAME) as writer:
        writer.append(record("a", outputs=["a-64.png"]))
        writer.append(record("gone", outputs=["gone-64.png"]))  # its output was deleted since
        writer.append(record("b", "error"))
        writer.append(record("b", "error", attempt=2))
        writer.append(record("c", "error"))
        writer.append(record("c", outputs=[], attempt=2))
        writer.append(record("d", outputs=[]))
        writer.append(record("d", "error", attempt=2))  # the latest record decides
    state = manifest_state(tmp_path)
    assert state.done == {"a", "c"}
    assert dict(state.attempts) == {"a": 1, "gone": 1, "b": 2, "c": 2, "d": 2}
    assert dict(state.failures) == {"b": 2, "c": 1, "d": 1}
