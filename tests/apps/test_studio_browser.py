"""The studio in a real browser: Debian's Chromium, driven by Playwright, against a studio on loopback.

The studio runs in a subprocess (`gfx demo`, as `make studio` starts it) with a tiny untrained IconShop model; its
temporary files go under the test's tmp dir (TMPDIR, GRADIO_TEMP_DIR). Screenshots are saved there too.
"""

import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120
STEP_TIMEOUT_MS = 60_000
PROMPT, SEED, N = "house", 0, 4

if importlib.util.find_spec("playwright") is None:
    pytest.skip("playwright is not installed; `make setup` installs it (the 'browser' extra)", allow_module_level=True)
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"{CHROMIUM} is missing; `make setup` installs Debian's chromium", allow_module_level=True)

pytestmark = pytest.mark.timeout(600)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_served(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the studio exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the studio did not answer on {url} within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def studio(tiny_iconshop, tmp_path_factory):
    """URL of a studio serving the tiny IconShop model; stopped with SIGTERM afterwards, which must clean up."""
    tmp = tmp_path_factory.mktemp("studio")
    port, log = _free_port(), tmp / "studio.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "TMPDIR": str(tmp), "GRADIO_TEMP_DIR": str(tmp / "gradio"), "NO_PROXY": "127.0.0.1,localhost"}
    command = [sys.executable, "-m", "gfx", "demo", "--port", str(port), "--no-browser", "--model", tiny_iconshop]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_served(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert not list(tmp.glob("gfx-studio-*")), "the studio left its work folder behind"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Debian Chromium with a fresh profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_FLAGS,
        )
        yield context
        context.close()


@pytest.fixture
def page(browser, studio):
    page = browser.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.goto(studio)
    page.wait_for_selector("#icon-generate")
    yield page
    page.close()


def _screenshot(page, path: Path) -> None:
    from PIL import Image

    page.screenshot(path=str(path), full_page=True)
    width, height = Image.open(path).size
    assert width > 600 and height > 400


def _wait_for_text(page, selector: str, text: str) -> str:
    """The inner text of the first element matching `selector` that contains `text`, once there is one.

    Whitespace is ignored in the comparison: gradio's file list puts a name's stem and extension in
    separate elements, so "a.svg" can read as "a\n.svg" depending on the layout.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    find = ("([s, t]) => [...document.querySelectorAll(s)].map(e => e.innerText)"
            ".find(x => x.replace(/\\s+/g, '').includes(t.replace(/\\s+/g, '')))")
    try:
        page.wait_for_function(find, arg=[selector, text])
    except PlaywrightTimeout:
        shown = page.locator(f"{selector}, .toast-body").all_inner_texts()
        pytest.fail(f"no {selector} showed {text!r} in {STEP_TIMEOUT_MS / 1000:g} s; the page shows {shown}")
    return page.evaluate(find, [selector, text])


def _table(page, selector: str) -> dict[str, list[str]]:
    """A gradio Dataframe's rows on screen, by their first cell; len() is the row count the grid reports."""
    grid = page.locator(f"{selector} [role=grid]")
    rows = {}
    for row in grid.locator("[role=row][data-index]").all():
        cells = [cell.inner_text().strip() for cell in row.locator("[role=gridcell]").all()]
        rows[cells[0]] = cells
    assert int(grid.get_attribute("aria-rowcount")) - 1 == len(rows)  # all rows rendered (no virtual scrolling)
    return rows


def test_type_a_prompt_generate_download_and_edit(page, tiny_iconshop, tmp_path):
    import gfx.svg

    expected = gfx.svg.generate(PROMPT, n=N, seed=SEED, model=tiny_iconshop)  # what the studio must show

    page.locator("#edit-run").click()  # nothing to edit yet: a message in the page, not a stack trace
    assert "there is no SVG to edit" in _wait_for_text(page, ".toast-body", "there is no SVG to edit")

    page.locator("#icon-prompt textarea").fill(PROMPT)
    page.locator("#icon-seed textarea").fill(str(SEED))
    page.locator("#icon-generate").click()
    status = _wait_for_text(page, "#icon-status", "icon(s) in")
    assert status.startswith(f"{N} icon(s) in") and status.endswith(f"(seed {SEED})")
    images = page.locator("#icon-gallery img")
    images.first.wait_for()
    assert images.count() == N
    page.wait_for_function(  # every thumbnail decoded (fails by timeout if one never loads)
        "n => { const imgs = [...document.querySelectorAll('#icon-gallery img')];"
        " return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0); }", arg=N)
    _screenshot(page, tmp_path / "studio-icons.png")

    links = page.locator("#icon-files a")
    assert links.count() == N
    for i, link in enumerate(links.all()):
        assert link.get_attribute("href").endswith(f"/{PROMPT}-{i}.svg")
        assert page.request.get(link.get_attribute("href")).text() == expected[i].svg

    images.nth(1).click()  # picks icon #1 for the editor
    page.wait_for_function("s => document.querySelector('#edit-svg textarea').value === s", arg=expected[1].svg)
    keep = page.locator("#edit-keep label")
    keep.first.wait_for()
    assert keep.count() == len(expected[1].document.elements)
    keep.first.click()
    page.locator("#edit-run").click()
    status = _wait_for_text(page, "#icon-status", "keeping paths 0")
    assert status.startswith(f"{N} edit(s) keeping paths 0")
    _wait_for_text(page, "#icon-files", f"{PROMPT}-edit-0")
    _screenshot(page, tmp_path / "studio-edit.png")


def test_mesh_tab_shows_the_glb_and_its_parts(page, tmp_path):
    import trimesh

    from gfx.apps.studio import mesh_available

    if not mesh_available():
        assert page.get_by_role("tab", name="Mesh").count() == 0
        pytest.skip("gfx.mesh.generate is not part of the API; the studio has no Mesh tab")
    page.get_by_role("tab", name="Mesh").click()
    page.locator("#mesh-prompt textarea").fill("a wooden chair with four legs")
    page.locator("#mesh-seed textarea").fill("0")
    with page.expect_response(lambda r: r.url.endswith(".glb")) as response:  # the viewer loads the file
        page.locator("#mesh-generate").click()
    assert response.value.status == 200
    scene = trimesh.load(io.BytesIO(response.value.body()), file_type="glb", force="scene")
    status = _wait_for_text(page, "#mesh-status", "parts")
    table = _table(page, "#mesh-parts")
    assert int(status.split()[0]) == len(scene.geometry) == len(table)
    assert sorted(table) == sorted(scene.geometry)
    assert all(int(table[name][3]) == len(scene.geometry[name].faces) for name in table)  # faces column
    _screenshot(page, tmp_path / "studio-mesh.png")


def test_batch_tab_runs_uploads_and_shows_the_manifest(page, tmp_path):
    (tmp_path / "a.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">'
                                    '<circle cx="12" cy="12" r="8"/></svg>')
    jobs = [{"kind": "render-svg", "id": "a", "input": "a.svg", "sizes": [48]},
            {"kind": "render-svg", "id": "b", "input": "b.svg"}]
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(job) + "\n" for job in jobs))

    page.get_by_role("tab", name="Batch").click()
    page.locator("#batch-jobs input[type=file]").set_input_files(str(tmp_path / "jobs.jsonl"))
    page.locator("#batch-inputs input[type=file]").set_input_files([str(tmp_path / "a.svg")])
    _wait_for_text(page, "#batch-inputs", "a.svg")
    page.locator("#batch-run").click()
    assert _wait_for_text(page, "#batch-status", "jobs in").startswith("1 ok, 1 failed of 2 jobs")
    assert "1 job(s) failed: b" in _wait_for_text(page, ".toast-body", "failed")
    rows = _table(page, "#batch-manifest")
    assert set(rows) == {"a", "b"}
    assert rows["a"][2:4] == ["ok", "a-48.png"]  # columns: id, kind, status, outputs, error, seconds
    assert rows["b"][2:5] == ["error", "", "FileNotFoundError: input b.svg does not exist"]
    _screenshot(page, tmp_path / "studio-batch.png")
