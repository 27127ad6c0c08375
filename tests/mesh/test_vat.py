import math

import numpy as np
import pytest
import torch
import trimesh

from gfx.mesh import MeshError, Part, PartMesh
from gfx.mesh.vat import VAT, VATCodes, VATConfig, plane_cell_coordinates, sample_triplane
from gfx.mesh.vat_generator import VATGenerator, VATGeneratorConfig
from gfx.mesh.voxels import union_occupancy, union_surface
from gfx.models import MODELS_DIR

SHIPPED = MODELS_DIR / "vat-mini"


def overlapping_boxes() -> PartMesh:
    """Two unit-ish boxes overlapping in x in [-0.2, 0.2]."""
    a = trimesh.creation.box((1.0, 0.6, 0.6))
    a.apply_translation([-0.3, 0, 0])
    b = trimesh.creation.box((1.0, 0.6, 0.6))
    b.apply_translation([0.3, 0, 0])
    return PartMesh([Part("a", "body", a.vertices, a.faces), Part("b", "body", b.vertices, b.faces)])


@pytest.fixture
def tiny() -> VAT:
    torch.manual_seed(0)
    return VAT(VATConfig.from_name("tiny"))


def batch(model: VAT, n: int = 2) -> dict:
    g = torch.Generator().manual_seed(1)
    return {
        "surface": torch.randn(n, model.config.n_points, 6, generator=g),
        "queries": torch.rand(n, 32, 3, generator=g) * 2 - 1,
        "occupancy": (torch.rand(n, 32, generator=g) > 0.5).float(),
    }


def test_union_surface_skips_points_inside_other_parts():
    mesh = overlapping_boxes()
    points, normals = union_surface(mesh, 2000, seed=0)
    assert points.shape == (2000, 3) and normals.shape == (2000, 3)
    inner = (np.abs(points[:, 0]) < 0.19) & (np.abs(points[:, 1]) < 0.29) & (np.abs(points[:, 2]) < 0.29)
    assert not inner.any()  # the overlap's inner faces are not on the union's surface
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)


def test_union_occupancy_is_inside_any_part():
    inside = union_occupancy(
        overlapping_boxes(), np.array([[-0.7, 0, 0], [0, 0, 0], [0.7, 0, 0], [0, 0.5, 0]])
    )
    assert inside.tolist() == [True, True, True, False]


def test_plane_query_coordinates_match_where_the_triplane_is_sampled():
    """A triplane holding each cell's own coordinates, read at a cell centre, sums to 2 * the point."""
    res = 4
    planes = plane_cell_coordinates(res).view(3, res, res, 3).permute(0, 3, 1, 2)[None]  # (1, 3, C=3, R, R)
    centres = (torch.arange(res) + 0.5) * 2 / res - 1
    points = torch.stack(torch.meshgrid(centres, centres, centres, indexing="ij"), -1).reshape(1, -1, 3)
    assert torch.allclose(sample_triplane(planes, points), 2 * points, atol=1e-6)


def test_loss_backpropagates_through_the_quantizer(tiny):
    loss = tiny.loss(batch(tiny))
    assert torch.isfinite(loss)
    loss.backward()
    assert tiny.point_proj.weight.grad.abs().sum() > 0  # straight-through reaches the encoder
    assert tiny.occupancy_mlp[0].weight.grad.abs().sum() > 0


def test_encode_gives_growing_scales_and_codes_round_trip(tiny, tmp_path):
    codes = tiny.encode(overlapping_boxes())
    assert [len(i) for i in codes.indices] == list(tiny.config.scales)
    assert all(0 <= int(i.min()) and int(i.max()) < tiny.config.codebook_size for i in codes.indices)
    assert codes.num_bytes(tiny.config.codebook_size) == sum(tiny.config.scales)
    loaded = VATCodes.load(codes.save(tmp_path / "codes.npz"))
    assert all(np.array_equal(a, b) for a, b in zip(loaded.indices, codes.indices, strict=True))
    np.testing.assert_allclose(loaded.center, codes.center)
    assert loaded.scale == pytest.approx(codes.scale)


def test_encode_keeps_the_candidate_whose_reconstruction_is_closest(tiny, monkeypatch):
    from gfx.mesh.voxels import cell_centers

    def cube_of_half_size_token0(tokens, resolution=None, coarse=None):  # stands in for the decoder
        return (np.abs(cell_centers(32)).max(-1) < float(tokens[0, 0, 0])).astype(np.float32)

    monkeypatch.setattr(tiny, "grid_probabilities", cube_of_half_size_token0)
    box = trimesh.creation.box((1.2, 1.2, 1.2))
    mesh = PartMesh([Part("box", "body", box.vertices, box.faces)])
    c = tiny.config
    candidates = torch.tensor([0.3, 0.6, 0.9, 0.0]).view(4, 1, 1).expand(4, c.n_latents, c.latent_dim)
    assert tiny.closest_reconstruction(mesh, candidates) == 1  # the 0.6 cube; the last decodes to nothing
    assert tiny.closest_reconstruction(mesh, candidates[:1]) == 0

    alone = tiny.encode(overlapping_boxes(), seed=7, candidates=1)
    monkeypatch.setattr(tiny, "closest_reconstruction", lambda mesh, tokens, seed=0: 2)
    picked = tiny.encode(overlapping_boxes(), seed=5, candidates=3)  # candidate 2 samples with seed 5 + 2
    assert all(np.array_equal(a, b) for a, b in zip(picked.indices, alone.indices, strict=True))


def test_decode_restores_the_original_frame(tiny):
    mesh = overlapping_boxes().normalized()
    moved = PartMesh([p.transformed(3.0, np.array([10.0, 0, -5])) for p in mesh])
    codes = tiny.encode(moved)
    with torch.no_grad():  # make every cell occupied: the decoded mesh is the whole normalized cube
        last = tiny.occupancy_mlp[-1]
        last.weight.zero_()
        last.bias.fill_(10.0)
    decoded = tiny.decode(codes)
    lo, hi = moved.bounds().astype(np.float64)
    center, half = (lo + hi) / 2, (hi - lo).max() / 2  # the normalized cube [-1, 1]^3, mapped back
    np.testing.assert_allclose(decoded.bounds(), np.stack([center - half, center + half]), atol=1e-4)


def test_decode_of_empty_occupancy_is_an_error(tiny):
    codes = tiny.encode(overlapping_boxes())
    with torch.no_grad():
        tiny.occupancy_mlp[-1].weight.zero_()
        tiny.occupancy_mlp[-1].bias.fill_(-10.0)
    with pytest.raises(MeshError, match="empty"):
        tiny.decode(codes)


def test_save_load_gives_identical_outputs(tiny, tmp_path):
    tiny.eval()
    b = batch(tiny)
    tiny.save_pretrained(tmp_path / "vat")
    loaded = VAT.from_pretrained(tmp_path / "vat")
    torch.manual_seed(0)
    expected = tiny.loss(b)
    torch.manual_seed(0)
    assert torch.equal(loaded.loss(b), expected)
    assert [a.tolist() for a in loaded.encode(overlapping_boxes()).indices] == [
        a.tolist() for a in tiny.encode(overlapping_boxes()).indices
    ]


def test_a_finer_plane_grid_starts_from_a_coarser_model(tiny, tmp_path):
    from gfx.checkpoint import load_weights

    res = tiny.config.plane_res
    with torch.no_grad():  # plane queries that grow linearly along each plane's first axis
        ramp = torch.arange(res, dtype=torch.float32).view(1, res, 1, 1).expand(3, res, res, tiny.config.d_model)
        tiny.plane_queries.copy_(ramp.reshape(-1, tiny.config.d_model))
    tiny.save_pretrained(tmp_path / "coarse", dtype=torch.float32)
    finer = VAT(tiny.config.replace(plane_res=2 * res))
    load_weights(finer, tmp_path / "coarse")
    fine = finer.plane_queries.detach().view(3, 2 * res, 2 * res, -1)
    coarse_coordinate = (torch.arange(2 * res) + 0.5) / 2 - 0.5  # fine cell centres in coarse cell units
    interior = slice(1, 2 * res - 1)  # bilinear resampling is exact for a ramp away from the clamped edges
    assert torch.allclose(fine[0, interior, 0, 0], coarse_coordinate[interior])
    assert torch.equal(finer.latents, tiny.latents)
    assert finer.encode(overlapping_boxes()).indices[0].tolist() == tiny.encode(overlapping_boxes()).indices[0].tolist()


def test_generator_is_block_causal_and_seeded(tiny):
    torch.manual_seed(0)
    gen = VATGenerator(VATGeneratorConfig.from_name("tiny")).eval()
    for p in gen.final.parameters():  # break the zero init so logits depend on the inputs
        torch.nn.init.normal_(p, std=0.5)
    text = torch.randn(1, 384)
    inputs = torch.randn(1, gen.config.length - 1, gen.config.latent_dim)
    changed = inputs.clone()
    changed[:, 3:] += 1.0  # inputs of scales 3 and 4 (tokens 3..) change
    a, b = gen(inputs, text), gen(changed, text)
    torch.testing.assert_close(a[:, :3], b[:, :3])  # scales 1 and 2 (tokens 0..2) cannot see them
    assert not torch.allclose(a[:, 3:], b[:, 3:])
    batch_ = {"inputs": inputs, "codes": torch.zeros(1, gen.config.length, dtype=torch.long), "text": text}
    assert torch.isfinite(gen.loss(batch_))
    codes = gen.sample(tiny, text, seed=3)
    assert [len(i) for i in codes.indices] == list(gen.config.scales)
    assert [i.tolist() for i in gen.sample(tiny, text, seed=3).indices] == [i.tolist() for i in codes.indices]


@pytest.mark.skipif(not SHIPPED.is_dir(), reason="models/vat-mini not trained")
def test_shipped_vat_reconstructs_a_test_object():
    from gfx.data.parts3d import iter_objects
    from gfx.mesh.metrics import point_metrics
    from gfx.mesh.voxels import sample_surface

    vat = VAT.from_pretrained(SHIPPED)
    mesh = PartMesh.from_records(next(iter_objects(20, split="test")).parts)
    decoded = vat.decode(vat.encode(mesh), resolution=48)
    gt, _ = union_surface(mesh, 5000, seed=1)
    pred, _, _ = sample_surface(decoded.verts_packed(), decoded.faces_packed(), 5000, 0)
    f = point_metrics(pred, gt)["f@0.05"]
    assert 0.1 < f <= 1.0 and not math.isnan(f)  # an untrained model decodes nothing (F = 0)


@pytest.mark.slow
def test_vat_overfits_one_shape():
    """The whole path (points -> latents -> triplane -> occupancy -> marching cubes -> F-score) can fit a shape."""
    from gfx.data.parts3d import generate
    from gfx.mesh.metrics import point_metrics
    from gfx.mesh.voxels import devoxelize, sample_surface
    from gfx.recipes.vat_data import occupancy_queries

    torch.manual_seed(0)
    mesh = PartMesh.from_records(generate("table", 0).parts)
    model = VAT(VATConfig.from_name("mini", quantize=False))
    points, normals = union_surface(mesh, model.config.n_points, seed=0)
    queries, occupancy = occupancy_queries(mesh, 4096, seed=0)
    batch_ = {
        "surface": torch.from_numpy(np.concatenate([points, normals], 1))[None],
        "queries": torch.from_numpy(queries)[None],
        "occupancy": torch.from_numpy(occupancy)[None].float(),
    }
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    for _ in range(300):
        optimizer.zero_grad()
        model.loss(batch_).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        mu, _ = model.encode_gaussian(batch_["surface"])
        probs = model.grid_probabilities(mu, 48)
        coarse_to_fine = model.grid_probabilities(mu, 48, coarse=24)
    assert np.mean((coarse_to_fine > 0.5) != (probs > 0.5)) < 1e-3  # misses only specks far from the shape
    vertices, faces = devoxelize(probs)
    pred, _, _ = sample_surface(vertices, faces, 10_000, 0)
    gt, _ = union_surface(mesh, 10_000, seed=1)
    assert point_metrics(pred, gt)["f@0.05"] > 0.85
