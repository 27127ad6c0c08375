"""The JSONL job spec: validation with per-line errors, default ids, lazy streaming."""

import tracemalloc
from pathlib import Path

import pytest

from gfx.jobs import JOB_KINDS, JobSpecError, read_jobs, validate_jobs
from gfx.jobs.spec import MAX_LINE_BYTES, default_id, parse_job

BASE = Path("/data/batch")
VALID = ", ".join(JOB_KINDS)  # the kinds registered today, in registry order


def test_defaults_and_resolved_inputs():
    job = parse_job('{"kind": "render-svg", "input": "icons/a.svg"}', 3, BASE)
    assert job.kind == "render-svg" and job.line == 3
    assert job.params == {"input": "icons/a.svg", "sizes": [128], "background": "white"}
    assert job.inputs == {"input": "/data/batch/icons/a.svg"}
    assert job.stem == job.id and len(job.id) == 16
    assert (
        parse_job('{"kind": "render-svg", "input": "/abs/a.svg", "background": "none"}', 1, BASE).params[
            "background"
        ]
        is None
    )


def test_default_id_ignores_key_order_and_spacing_but_not_content():
    a = parse_job('{"kind": "render-svg", "input": "a.svg", "sizes": [64]}', 1, BASE)
    b = parse_job('{ "sizes":[64],"input":"a.svg",   "kind":"render-svg" }', 9, BASE)
    c = parse_job('{"kind": "render-svg", "input": "a.svg", "sizes": [65]}', 1, BASE)
    assert a.id == b.id == default_id({"kind": "render-svg", "input": "a.svg", "sizes": [64]})
    assert c.id != a.id


def test_explicit_id_and_output_stem():
    job = parse_job(
        '{"id": "home.v2", "kind": "render-svg", "input": "a.svg", "output": "set/home"}', 1, BASE
    )
    assert (job.id, job.stem) == ("home.v2", "set/home")


@pytest.mark.parametrize(
    "line, message",
    [
        (
            '{"kind": "rendr-svg", "input": "a.svg"}',
            f"line 17: unknown kind 'rendr-svg'; valid kinds: {VALID}",
        ),
        ('{"input": "a.svg"}', f"line 17: has no 'kind'; valid kinds: {VALID}"),
        ('{"kind": 3}', f"line 17: unknown kind 3; valid kinds: {VALID}"),
        (
            '{"kind": "render-svg", "input": "a.svg",}',
            "line 17: is not valid JSON (Expecting property name enclosed in double quotes at column 41)",
        ),
        ('["render-svg"]', "line 17: expected a JSON object, got an array"),
        (b'{"kind": "render-svg", "input": "\xff.svg"}', "line 17: is not UTF-8 text"),
        (
            '{"kind": "render-svg", "input": "a.svg", "szes": [64]}',
            "line 17: unknown field 'szes' for kind 'render-svg'; valid fields: id, kind, output, input, sizes, background",
        ),
        ('{"kind": "render-svg"}', "line 17: kind 'render-svg' needs field 'input'"),
        (
            '{"kind": "render-svg", "input": ""}',
            "line 17: field 'input' must be a non-empty path string, got \"\"",
        ),
        (
            '{"kind": "render-svg", "input": "a.svg", "sizes": [0]}',
            "field 'sizes' must be a list of 1 to 16 distinct",
        ),
        ('{"kind": "render-svg", "input": "a.svg", "sizes": 64}', "field 'sizes' must be a list"),
        (
            '{"kind": "render-svg", "input": "a.svg", "sizes": [64, 64]}',
            "distinct integers in 1..8192, got [64, 64]",
        ),
        ('{"kind": "render-svg", "input": "a.svg", "sizes": [true]}', "field 'sizes' must be a list"),
        (
            '{"kind": "render-svg", "input": "a.svg", "background": 7}',
            "field 'background' must be a CSS colour",
        ),
        (
            '{"kind": "render-svg", "input": "a.svg", "id": "a b"}',
            "line 17: id must be 1-128 letters, digits",
        ),
        ('{"kind": "render-svg", "input": "a.svg", "id": 5}', "got 5"),
        (
            '{"kind": "render-svg", "input": "a.svg", "output": "../escape"}',
            "line 17: output must be a relative path",
        ),
        ('{"kind": "render-svg", "input": "a.svg", "output": "/abs/x"}', "output must be a relative path"),
    ],
)
def test_bad_lines_name_the_line_and_the_problem(line, message):
    with pytest.raises(ValueError) as caught:
        parse_job(line, 17, BASE)
    assert message in str(caught.value)


def test_validate_reports_every_bad_line_with_its_number(tmp_path):
    lines = [
        '{"id": "a", "kind": "render-svg", "input": "a.svg"}',
        "",  # blank lines are skipped but keep the numbering
        '{"id": "b", "kind": "vectorise", "input": "b.png"}',  # a typo of a kind: unknown
        '{"id": "a", "kind": "render-svg", "input": "c.svg"}',
        '{"id": "d", "kind": "render-svg", "input": "d.svg", "output": "a"}',
        "x" * (MAX_LINE_BYTES + 10),
        '{"id": "e", "kind": "render-svg", "input": "e.svg"}',
        '{"id": "f", "kind": "render-svg", "input": "f.svg", "output": "g"}',
        '{"id": "g", "kind": "render-svg", "input": "g.svg", "output": "h"}',  # id g, output h: no clash
        '{"id": "h2", "kind": "render-svg", "input": "h.svg", "output": "e"}',
    ]
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(JobSpecError) as caught:
        validate_jobs(path)
    assert caught.value.errors == [
        f"line 3: unknown kind 'vectorise'; valid kinds: {VALID}",
        "line 4: id 'a' is already used on line 1",
        "line 5: output 'a' is already used on line 1",
        f"line 6: is longer than {MAX_LINE_BYTES} bytes",
        "line 10: output 'e' is already used on line 7",
    ]
    assert (
        str(caught.value)
        == f"{path}: line 3: unknown kind 'vectorise'; valid kinds: {VALID} (and 4 more bad lines)"
    )
    del lines[2:6]
    del lines[-1]
    path.write_text("\n".join(lines))  # no newline at the end is fine
    assert validate_jobs(path) == {"render-svg": 4}
    assert [(job.id, job.stem) for job in read_jobs(path)] == [("a", "a"), ("e", "e"), ("f", "g"), ("g", "h")]


def test_validate_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="job file .*nope.jsonl does not exist"):
        validate_jobs(tmp_path / "nope.jsonl")


def test_read_jobs_streams_lazily(tmp_path):
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"kind": "render-svg", "input": "a.svg"}\n{"kind": "oops"}\n')
    jobs = read_jobs(path)
    assert next(jobs).params["input"] == "a.svg"  # the bad second line is not read yet
    with pytest.raises(JobSpecError, match="line 2: unknown kind 'oops'"):
        next(jobs)


def test_registry_kinds_are_consistent():
    for name, kind in JOB_KINDS.items():
        assert kind.name == name and callable(kind.handler)
        assert not {"id", "kind", "output"} & set(kind.fields)


def test_memory_is_flat_in_the_number_of_lines(tmp_path):
    """Streaming holds one line at a time (validation alone keeps the ids); 30k lines keep the test short."""
    path = tmp_path / "big.jsonl"
    row = '{{"id": "job{}", "kind": "render-svg", "input": "icons/{}.svg", "sizes": [16]}}\n'
    with open(path, "w") as f:
        f.writelines(row.format(i, i) for i in range(30_000))
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_jobs(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 30_000
    assert peak < 100_000, peak  # bytes: independent of the file's 2.4 MB and 30k distinct names
