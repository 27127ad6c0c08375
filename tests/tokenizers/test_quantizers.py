import pytest
import torch

from gfx.tokenizers import MultiScaleResidualQuantizer, ResidualQuantizer, VectorQuantizer, code_bytes
from gfx.tokenizers.quantizers import resize_tokens


def smooth_tokens(batch: int, length: int, dim: int, seed: int = 0) -> torch.Tensor:
    """Token sequences that vary smoothly along the token axis, plus a little detail (what the coarse
    scales of a next-scale quantizer can capture)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(batch, 4, dim, generator=g)
    return resize_tokens(coarse, length, "linear") + 0.1 * torch.randn(batch, length, dim, generator=g)


@pytest.mark.parametrize("ema", [0.0, 0.99])
def test_vq_picks_the_nearest_code_and_returns_it(ema):
    torch.manual_seed(0)
    vq = VectorQuantizer(32, 4, ema_decay=ema).eval()
    z = torch.randn(5, 7, 4)
    out = vq(z)
    brute = torch.cdist(z.reshape(-1, 4), vq.codebook.detach()).argmin(1).reshape(5, 7)
    assert torch.equal(out.indices, brute)
    torch.testing.assert_close(out.quantized, vq.codebook.detach()[brute])
    torch.testing.assert_close(vq.embed(out.indices), out.quantized)


def test_vq_straight_through_gradient_is_identity():
    vq = VectorQuantizer(16, 3, ema_decay=0.0).eval()
    z = torch.randn(10, 3, requires_grad=True)
    weights = torch.randn(10, 3)
    (vq(z).quantized * weights).sum().backward()
    torch.testing.assert_close(z.grad, weights)


def test_vq_commitment_and_codebook_losses_have_gradients():
    vq = VectorQuantizer(16, 3, ema_decay=0.0)
    z = torch.randn(10, 3, requires_grad=True)
    vq(z).loss.backward()
    assert z.grad.abs().sum() > 0 and vq.codebook.grad.abs().sum() > 0


def test_vq_ema_moves_used_codes_to_their_inputs_and_restarts_dead_ones():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 2, ema_decay=0.5, dead_after=0.5).train()
    z = torch.tensor([[5.0, 5.0]]).repeat(64, 1)
    for _ in range(30):
        vq(z)
    distances = (vq.codebook.detach() - z[0]).norm(dim=1)
    assert distances.min() < 1e-3  # the used code sits on the data
    assert (distances < 1e-3).sum() >= 2  # unused codes were restarted at data points too


def test_residual_vq_reconstruction_improves_with_depth():
    torch.manual_seed(0)
    rq = ResidualQuantizer(64, 4, depth=4).train()
    z = torch.randn(512, 4)
    for _ in range(20):
        rq(z)
    rq.eval()
    with torch.no_grad():
        out = rq(z)
    errors = [float((rq.decode(out.indices[:, :d]) - z).pow(2).mean()) for d in range(1, 5)]
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False)), errors
    torch.testing.assert_close(rq.decode(out.indices), out.quantized)


def test_multiscale_reconstruction_improves_with_scales_and_decode_matches_forward():
    torch.manual_seed(0)
    msq = MultiScaleResidualQuantizer(64, 4, scales=(1, 2, 4, 8, 16)).train()
    z = smooth_tokens(64, 16, 4)
    for _ in range(30):
        msq(z)
    msq.eval().requires_grad_(False)
    out = msq(z)
    assert [tuple(i.shape) for i in out.indices] == [(64, n) for n in (1, 2, 4, 8, 16)]
    torch.testing.assert_close(msq.decode(out.indices), out.quantized)
    errors = [float((msq.decode(out.indices[:s]) - z).pow(2).mean()) for s in range(1, 6)]
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 0.5 * float(z.pow(2).mean())


def test_multiscale_straight_through_and_phi_gradients():
    msq = MultiScaleResidualQuantizer(16, 3, scales=(1, 2, 4)).train()
    z = torch.randn(2, 4, 3, requires_grad=True)
    out = msq(z)
    weights = torch.randn_like(z)
    ((out.quantized * weights).sum() + out.loss).backward()
    assert z.grad is not None and msq.phi[0].weight.grad.abs().sum() > 0


def test_multiscale_teacher_inputs_are_the_running_reconstruction():
    torch.manual_seed(0)
    msq = MultiScaleResidualQuantizer(16, 3, scales=(1, 2, 4)).eval()
    indices = msq.encode(torch.randn(2, 4, 3))
    inputs = msq.teacher_inputs(indices)
    assert inputs.shape == (2, 2 + 4, 3)
    torch.testing.assert_close(inputs[:, :2], msq.next_scale_input(msq.decode(indices[:1]), 1))
    torch.testing.assert_close(inputs[:, 2:], msq.next_scale_input(msq.decode(indices[:2]), 2))


def test_multiscale_rejects_bad_scales_and_shapes():
    with pytest.raises(ValueError, match="non-decreasing"):
        MultiScaleResidualQuantizer(16, 3, scales=(4, 2))
    msq = MultiScaleResidualQuantizer(16, 3, scales=(1, 4))
    with pytest.raises(ValueError, match=r"expected \(B, 4, D\)"):
        msq(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="scale 1 has 4 codes"):
        msq.decode([torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long)])


def test_code_bytes():
    assert code_bytes(127, 256) == 127
    assert code_bytes(10, 1024) == 20
    assert code_bytes(10, 2) == 10


@pytest.mark.parametrize("ema", [0.0, 0.99])
def test_normalized_vq_codes_lie_on_the_sphere_and_round_trip(ema):
    torch.manual_seed(0)
    vq = VectorQuantizer(16, 8, ema_decay=ema, normalize=True).eval()
    codes = vq.codes()
    assert torch.allclose(codes.norm(dim=-1), torch.ones(16), atol=1e-5)
    indices = torch.randint(16, (5, 3))
    out = vq(3.7 * vq.embed(indices))  # the scale is ignored: the nearest code is the most cosine-similar one
    assert torch.equal(out.indices, indices)
    assert torch.allclose(out.quantized, vq.embed(indices), atol=1e-6)
    assert not VectorQuantizer(16, 8).normalize  # the default is unchanged
