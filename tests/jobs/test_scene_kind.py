"""The generate-scene job kind: its handler writes the API's scene, its objects and the renders."""

import json

import torch

import gfx.svg
from gfx.jobs.kinds import JOB_KINDS


def test_generate_scene_writes_the_apis_scene_its_objects_and_renders(tiny_layout_dir):
    torch.set_num_threads(1)
    params = {"prompt": "a sun above two cars", "seed": 3, "mode": "primitives", "layout_model": str(tiny_layout_dir),
              "model": None, "sizes": [32]}
    files = JOB_KINDS["generate-scene"].handler(params, {})
    assert set(files) == {".svg", ".json", "-32.png"}
    expected = gfx.svg.scene("a sun above two cars", seed=3, mode="primitives", layout_model=str(tiny_layout_dir))
    assert files[".svg"].decode() == expected.svg
    assert [o["phrase"] for o in json.loads(files[".json"])["objects"]] == [o["phrase"] for o in
                                                                           expected.info["objects"]]
