"""Vector quantizers: plain VQ, residual VQ, and multi-scale residual VQ over a token axis (VAR / VAT).

All three map continuous vectors to codebook indices and back, with a straight-through estimator, so
an encoder in front of them trains by backpropagation:

    vq = VectorQuantizer(codebook_size=256, dim=16)
    out = vq(z)                     # z: (..., 16) -> out.quantized (..., 16), out.indices (...), out.loss
    rq = ResidualQuantizer(256, 16, depth=4)            # out.indices (..., 4): one code per depth
    msq = MultiScaleResidualQuantizer(256, 16, scales=(1, 2, 4, 8))
    out = msq(z)                    # z: (B, 8, 16); out.indices: list of (B, 1), (B, 2), (B, 4), (B, 8)
    z_hat = msq.decode(out.indices[:2])                 # coarse reconstruction from the first 2 scales

Codebooks are initialized from N(0, I) samples: VAT maps its latents to a standard Gaussian before
quantizing, so the codes start where the data is. Updates are either gradient-based (codebook loss
`||sg(z) - e||^2`) or, with `ema_decay > 0`, exponential moving averages of the assigned vectors with
restarts of dead codes (codes unused for a while jump to a random recent input); EMA is the default
because it converges faster on small budgets. The loss always includes the commitment term
`beta * ||z - sg(e)||^2`. With `normalize=True` inputs and codes are L2-normalized before the lookup
(cosine-similarity codes on the unit sphere, as Hita's low-dimensional codebooks, docs/papers.md, Hita).

Multi-scale residual quantization (VAR, Tian et al. 2024; VAT, Zhang et al. 2024) works on a sequence of
M tokens: at scale s the residual is area-downsampled along the token axis to n_s tokens, quantized with
the shared codebook, linearly upsampled back to M tokens, refined by a per-scale 1-D convolution
(`phi`, blended with ratio `phi_ratio`) and subtracted. Token counts grow across scales; the last scale
has n_S = M. The token axis is the fixed order of the encoder's latent queries (an assumption: the VAT
paper's exact operator was not retrievable, docs/papers.md, VAT).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class QuantizerOutput:
    """What a quantizer's forward returns.

    Attributes:
        quantized: same shape as the input; the quantized vectors with straight-through gradients.
        indices: (...) long codes (VQ), (..., depth) (residual), or a list of (B, n_s) per scale.
        loss: scalar commitment (+ codebook) loss to add to the training loss.
        perplexity: exp(entropy) of the code usage in this batch (codebook_size means uniform use).
    """

    quantized: Tensor
    indices: Tensor | list[Tensor]
    loss: Tensor
    perplexity: Tensor


def code_bytes(n_tokens: int, codebook_size: int) -> int:
    """Storage of `n_tokens` codes at whole bytes per token: n * ceil(log2(K) / 8)."""
    return n_tokens * max(1, math.ceil(math.log2(codebook_size) / 8))


class VectorQuantizer(nn.Module):
    """Nearest-neighbour vector quantization of the last axis.

    Args:
        codebook_size: K codes.
        dim: D, the vector width.
        beta: commitment weight.
        ema_decay: 0 for gradient codebook updates, else the EMA decay (e.g. 0.99).
        dead_after: with EMA, a code whose EMA usage falls below this many assignments per batch is
            restarted at a random input vector of the current batch.
        normalize: L2-normalize inputs and codes (codes live on the unit sphere; the nearest code is
            the most cosine-similar one).
    """

    def __init__(
        self,
        codebook_size: int,
        dim: int,
        beta: float = 0.25,
        ema_decay: float = 0.99,
        dead_after: float = 0.03,
        normalize: bool = False,
    ):
        super().__init__()
        if codebook_size < 2 or dim < 1:
            raise ValueError(f"need codebook_size >= 2 and dim >= 1, got {codebook_size}, {dim}")
        self.codebook_size, self.dim, self.beta = codebook_size, dim, beta
        self.ema_decay, self.dead_after, self.normalize = ema_decay, dead_after, normalize
        self.codebook = nn.Parameter(torch.randn(codebook_size, dim), requires_grad=ema_decay == 0)
        if ema_decay:
            self.register_buffer("ema_count", torch.ones(codebook_size))
            self.register_buffer("ema_sum", self.codebook.data.clone())

    def lookup(self, z: Tensor) -> Tensor:
        """Indices of the nearest codes: (..., D) -> (...) long."""
        flat = self.unit(z.detach().reshape(-1, self.dim).float())
        book = self.codes().float()
        distances = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ book.t() + book.pow(2).sum(1)[None]
        return distances.argmin(1).reshape(z.shape[:-1])

    def unit(self, z: Tensor) -> Tensor:
        """z (..., D) on the unit sphere when `normalize`, else unchanged."""
        return F.normalize(z, dim=-1) if self.normalize else z

    def codes(self) -> Tensor:
        """(K, D) the code vectors as the lookup sees them."""
        return self.unit(self.codebook)

    def embed(self, indices: Tensor) -> Tensor:
        """Code vectors of indices: (...) long -> (..., D)."""
        return F.embedding(indices, self.codes())

    def forward(self, z: Tensor) -> QuantizerOutput:
        """Quantize z (..., D) (normalized first when `normalize`); in training mode also update the
        codebook (EMA)."""
        z = self.unit(z)
        indices = self.lookup(z)
        if self.training and self.ema_decay:
            self.ema_update(z, indices)
        quantized = self.embed(indices)
        loss = self.beta * F.mse_loss(z, quantized.detach())
        if not self.ema_decay:
            loss = loss + F.mse_loss(quantized, z.detach())
        return QuantizerOutput(
            z + (quantized - z).detach(), indices, loss, perplexity(indices, self.codebook_size)
        )

    @torch.no_grad()
    def ema_update(self, z: Tensor, indices: Tensor) -> None:
        """Move each used code toward the mean of its assigned vectors; restart dead codes."""
        flat = z.detach().reshape(-1, self.dim).float()
        one_hot = F.one_hot(indices.reshape(-1), self.codebook_size).float()  # (N, K)
        decay = self.ema_decay
        self.ema_count.mul_(decay).add_(one_hot.sum(0), alpha=1 - decay)
        self.ema_sum.mul_(decay).add_(one_hot.t() @ flat, alpha=1 - decay)
        n = self.ema_count.sum()
        count = (self.ema_count + 1e-5) / (n + self.codebook_size * 1e-5) * n  # Laplace smoothing
        self.codebook.data.copy_(self.ema_sum / count[:, None])
        dead = self.ema_count < self.dead_after
        if dead.any() and len(flat):
            picks = flat[torch.randint(len(flat), (int(dead.sum()),), device=flat.device)]
            self.codebook.data[dead] = picks
            self.ema_sum[dead] = picks
            self.ema_count[dead] = 1.0


def perplexity(indices: Tensor, codebook_size: int) -> Tensor:
    """exp(entropy) of the empirical code distribution of `indices`."""
    counts = torch.bincount(indices.reshape(-1), minlength=codebook_size).float()
    p = counts / counts.sum().clamp(min=1)
    return torch.exp(-(p * torch.log(p.clamp(min=1e-10))).sum())


class ResidualQuantizer(nn.Module):
    """Residual VQ: `depth` quantizers in turn, each coding what the previous ones left.

    Args:
        codebook_size, dim, beta, ema_decay: as for `VectorQuantizer`.
        depth: number of residual stages.
        shared_codebook: one codebook for every stage (else one per stage).
    """

    def __init__(
        self,
        codebook_size: int,
        dim: int,
        depth: int,
        beta: float = 0.25,
        ema_decay: float = 0.99,
        shared_codebook: bool = False,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        n = 1 if shared_codebook else depth
        self.stages = nn.ModuleList(VectorQuantizer(codebook_size, dim, beta, ema_decay) for _ in range(n))
        self.depth, self.codebook_size = depth, codebook_size

    def stage(self, d: int) -> VectorQuantizer:
        return self.stages[min(d, len(self.stages) - 1)]

    def forward(self, z: Tensor) -> QuantizerOutput:
        """z (..., D) -> quantized (..., D), indices (..., depth)."""
        residual, total = z, torch.zeros_like(z)
        indices, loss = [], z.new_zeros(())
        for d in range(self.depth):
            out = self.stage(d)(residual)
            indices.append(out.indices)
            loss = loss + out.loss
            q = self.stage(d).embed(out.indices)
            total = total + q
            residual = residual - q.detach()
        indices = torch.stack(indices, -1)
        return QuantizerOutput(
            z + (total - z).detach(), indices, loss / self.depth, perplexity(indices, self.codebook_size)
        )

    def decode(self, indices: Tensor) -> Tensor:
        """(..., d) codes of the first d <= depth stages -> (..., D) their sum."""
        return sum(self.stage(d).embed(indices[..., d]) for d in range(indices.shape[-1]))


def resize_tokens(x: Tensor, n: int, mode: str) -> Tensor:
    """Resample a token sequence (B, M, D) to (B, n, D) along the token axis ("area" or "linear")."""
    if x.shape[1] == n:
        return x
    y = x.transpose(1, 2)
    y = (
        F.interpolate(y, size=n, mode=mode)
        if mode == "area"
        else F.interpolate(y, size=n, mode=mode, align_corners=False)
    )
    return y.transpose(1, 2)


class MultiScaleResidualQuantizer(nn.Module):
    """Next-scale residual quantization of a token sequence (B, M, D) with one shared codebook.

    Args:
        codebook_size, dim, beta, ema_decay: as for `VectorQuantizer`.
        scales: token counts n_1 <= n_2 <= ... <= n_S = M (a scale may repeat, adding residual depth).
        phi_ratio: blend of each scale's refinement convolution (0: none).
    """

    def __init__(
        self,
        codebook_size: int,
        dim: int,
        scales: Sequence[int],
        beta: float = 0.25,
        ema_decay: float = 0.99,
        phi_ratio: float = 0.5,
    ):
        super().__init__()
        scales = tuple(int(s) for s in scales)
        if not scales or any(b < a for a, b in zip(scales, scales[1:], strict=False)) or scales[0] < 1:
            raise ValueError(f"scales must be positive and non-decreasing, got {scales}")
        self.scales, self.codebook_size, self.phi_ratio = scales, codebook_size, phi_ratio
        self.vq = VectorQuantizer(codebook_size, dim, beta, ema_decay)
        self.phi = nn.ModuleList(nn.Conv1d(dim, dim, 3, padding=1) for _ in scales)

    @property
    def length(self) -> int:
        """M, the number of tokens of the full-resolution sequence."""
        return self.scales[-1]

    def num_tokens(self, n_scales: int | None = None) -> int:
        """Codes of the first `n_scales` scales (all by default)."""
        return sum(self.scales[: n_scales or len(self.scales)])

    def upsample(self, codes: Tensor, s: int) -> Tensor:
        """Scale s's code vectors (B, n_s, D) -> their refined contribution at full length (B, M, D)."""
        up = resize_tokens(codes, self.length, "linear")
        if self.phi_ratio:
            refined = self.phi[s](up.transpose(1, 2)).transpose(1, 2)
            up = (1 - self.phi_ratio) * up + self.phi_ratio * refined
        return up

    def forward(self, z: Tensor) -> QuantizerOutput:
        """z (B, M, D) -> quantized (B, M, D) (straight-through), indices [(B, n_s)] per scale."""
        if z.dim() != 3 or z.shape[1] != self.length:
            raise ValueError(f"expected (B, {self.length}, D) tokens, got {tuple(z.shape)}")
        f_hat = torch.zeros_like(z)
        indices, loss, codes = [], z.new_zeros(()), []
        for s, n in enumerate(self.scales):
            residual = resize_tokens(z.detach() - f_hat.detach(), n, "area")
            out = self.vq(residual)  # EMA update against this scale's residual
            indices.append(out.indices)
            codes.append(out.indices)
            f_hat = f_hat + self.upsample(self.vq.embed(out.indices), s)
        # commitment pulls z toward the reconstruction; the second term trains phi (and a gradient codebook)
        loss = self.vq.beta * F.mse_loss(z, f_hat.detach()) + F.mse_loss(f_hat, z.detach())
        all_codes = torch.cat([c.reshape(-1) for c in codes])
        return QuantizerOutput(
            z + (f_hat - z).detach(), indices, loss, perplexity(all_codes, self.codebook_size)
        )

    @torch.no_grad()
    def encode(self, z: Tensor) -> list[Tensor]:
        """Codes per scale [(B, n_s) long] of z (B, M, D), without updating the codebook."""
        was = self.training
        self.eval()
        try:
            return self(z).indices
        finally:
            self.train(was)

    def decode(self, indices: Sequence[Tensor]) -> Tensor:
        """Reconstruction (B, M, D) from the codes of the first len(indices) scales (coarse when fewer)."""
        if not 1 <= len(indices) <= len(self.scales):
            raise ValueError(f"need codes for 1..{len(self.scales)} scales, got {len(indices)}")
        f_hat = 0
        for s, idx in enumerate(indices):
            if idx.shape[-1] != self.scales[s]:
                raise ValueError(f"scale {s} has {self.scales[s]} codes, got {idx.shape[-1]}")
            f_hat = f_hat + self.upsample(self.vq.embed(idx), s)
        return f_hat

    def next_scale_input(self, f_hat: Tensor, s: int) -> Tensor:
        """The input a next-scale model sees before predicting scale s: f_hat (B, M, D) -> (B, n_s, D)."""
        return resize_tokens(f_hat, self.scales[s], "area")

    def teacher_inputs(self, indices: Sequence[Tensor]) -> Tensor:
        """Next-scale inputs for scales 1..S-1 given all codes (teacher forcing): (B, sum n_s for s >= 1, D)."""
        f_hat, inputs = 0, []
        for s in range(len(self.scales) - 1):
            f_hat = f_hat + self.upsample(self.vq.embed(indices[s]), s)
            inputs.append(self.next_scale_input(f_hat, s + 1))
        return torch.cat(inputs, 1)
