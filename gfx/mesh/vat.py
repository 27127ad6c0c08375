"""VAT: a 3D shape tokenizer (Zhang et al. 2024, "3D representation in 512-Byte", arXiv 2412.02202).

    surface points + normals ──Fourier──┐
                                        ├─ in-context transformer ─ latent outputs ─ (mu, logvar) ─ z ~ N
    M learnable latent queries ─────────┘
    z ─ multi-scale residual VQ (token counts 1, 2, 4, ..., M; one codebook) ─ codes
    codes ─ dequantize ─ transformer over [latents; 3 R^2 plane queries] ─ triplane (3, C, R', R')
          ─ bilinear features at query points, summed ─ MLP ─ occupancy logit ─ marching cubes ─ mesh

The encoder keeps only the outputs at the latent positions (the in-context design of the paper); the
latents are mapped to a Gaussian (KL to N(0, I)) and quantized by `MultiScaleResidualQuantizer`, whose
codebook starts from N(0, I) samples. Using only the first s scales gives a coarser shape from fewer bytes
(`decode(codes[:s])`), which is how F-score vs. bytes is measured. Details the paper's text did not give
(token counts per scale, codebook size, triplane size) are config fields (docs/papers.md, VAT).

Shapes are normalized to [-1, 1]^3 before encoding; `VATCodes` keeps the transform, so `decode` puts the
mesh back where it was.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.set_blocks import SetBlock, fourier_features, fourier_width
from gfx.checkpoint import PretrainedMixin
from gfx.config import ConfigMixin
from gfx.mesh.structures import MeshError, PartMesh
from gfx.tokenizers.quantizers import MultiScaleResidualQuantizer, code_bytes

log = logging.getLogger(__name__)

SELECTION_POINTS = 4000
"""Surface samples per mesh when `VAT.encode` compares candidate encodings."""


@dataclass
class VATConfig(ConfigMixin):
    """Shape of a `VAT` tokenizer. Presets: tiny (tests), mini (the shipped CPU model)."""

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(
            n_points=64,
            fourier_freqs=2,
            d_model=32,
            n_head=2,
            enc_layers=1,
            dec_layers=1,
            n_latents=8,
            latent_dim=4,
            scales=(1, 2, 4, 8),
            codebook_size=16,
            plane_res=4,
            plane_upsample=1,
            plane_channels=8,
            mlp_hidden=16,
            mc_resolution=16,
        ),
        "mini": dict(
            n_points=512, enc_layers=2, plane_res=16, mc_resolution=128, mc_coarse=64, encode_candidates=4
        ),
    }

    n_points: int = 512  # surface points per shape given to the encoder
    fourier_freqs: int = 6
    d_model: int = 128
    n_head: int = 4
    enc_layers: int = 3
    dec_layers: int = 2
    n_latents: int = 64  # M latent queries = tokens of the finest scale
    latent_dim: int = 16  # width of the Gaussian latent and of the codes
    kl_weight: float = 1e-4
    scales: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    codebook_size: int = 256  # 256 codes: one byte per token ("int8 tokens")
    beta: float = 0.25
    ema_decay: float = 0.99
    quantize: bool = True  # False: a plain KL autoencoder (the unquantized upper bound)
    plane_res: int = 8  # plane queries per axis
    plane_upsample: int = 2  # conv upsampling steps, each doubling the plane size
    plane_channels: int = 32
    mlp_hidden: int = 64
    mc_resolution: int = 64  # grid of the marching-cubes extraction over [-1, 1]^3
    mc_coarse: int = 0  # coarse grid of a coarse-to-fine extraction (0: evaluate every cell)
    encode_candidates: int = 1  # encodings compared by `encode` (the closest reconstruction is kept)

    def __post_init__(self):
        if self.scales[-1] != self.n_latents:
            raise ValueError(
                f"the last scale must equal n_latents {self.n_latents}, got scales {self.scales}"
            )

    @property
    def plane_size(self) -> int:
        return self.plane_res * 2**self.plane_upsample


@dataclass
class VATCodes:
    """A shape as VAT tokens.

    Attributes:
        indices: one (n_s,) int array per scale (a prefix of the model's scales).
        center, scale: the normalization `x_norm = (x - center) * scale`, undone by `decode`.
    """

    indices: list[np.ndarray]
    center: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    scale: float = 1.0

    def num_bytes(self, codebook_size: int) -> int:
        """Bytes of the token payload (not counting the 16-byte transform)."""
        return code_bytes(sum(len(i) for i in self.indices), codebook_size)

    def save(self, path: str | Path) -> Path:
        """Write an .npz with arrays scale_<s> (uint8/uint16), center, scale."""
        dtype = np.uint8 if max(int(i.max(initial=0)) for i in self.indices) < 256 else np.uint16
        arrays = {f"scale_{s}": i.astype(dtype) for s, i in enumerate(self.indices)}
        np.savez(path, center=self.center.astype(np.float32), scale=np.float32(self.scale), **arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> VATCodes:
        with np.load(path) as data:
            n = sum(1 for k in data.files if k.startswith("scale_"))
            if n == 0:
                raise MeshError(f"{path} holds no VAT codes (arrays scale_0, scale_1, ...)")
            return cls(
                [data[f"scale_{s}"].astype(np.int64) for s in range(n)], data["center"], float(data["scale"])
            )


def plane_cell_coordinates(res: int) -> Tensor:
    """Cell centres of the xy, xz and yz planes as 3-D points (off-plane axis 0): (3 res^2, 3).

    Row p * res^2 + i * res + j is cell (i, j) of plane p: on the xy plane the point (c_i, c_j, 0), on xz
    (c_i, 0, c_j), on yz (0, c_i, c_j), the layout `sample_triplane` reads.
    """
    centres = (torch.arange(res, dtype=torch.float32) + 0.5) * (2.0 / res) - 1.0
    a, b = (t.reshape(-1) for t in torch.meshgrid(centres, centres, indexing="ij"))
    zero = torch.zeros(res * res)
    return torch.cat([torch.stack(axes, dim=-1) for axes in ((a, b, zero), (a, zero, b), (zero, a, b))])


def sample_triplane(planes: Tensor, queries: Tensor) -> Tensor:
    """Bilinear triplane features summed over the planes.

    planes: (B, 3, C, R, R) for xy, xz, yz, cell (i, j) at the first coordinate c_i and second c_j of the
    pair; queries: (B, Q, 3) in [-1, 1]^3 -> (B, Q, C).
    """
    B, Q, _ = queries.shape
    pairs = torch.stack([queries[..., [0, 1]], queries[..., [0, 2]], queries[..., [1, 2]]], dim=1)  # (B,3,Q,2)
    grid = pairs.flip(-1).reshape(B * 3, Q, 1, 2)  # grid_sample's x indexes the last (j) axis
    feats = F.grid_sample(planes.flatten(0, 1), grid, mode="bilinear", align_corners=False)  # (3B, C, Q, 1)
    return feats.view(B, 3, -1, Q).sum(1).transpose(1, 2)


class VAT(nn.Module, PretrainedMixin):
    """The VAT autoencoder: `loss(batch)` for training, `encode` / `decode` for meshes."""

    config_class = VATConfig

    def __init__(self, config: VATConfig):
        super().__init__()
        self.config = c = config
        self.point_proj = nn.Linear(fourier_width(c.fourier_freqs) + 3, c.d_model)
        self.latents = nn.Parameter(torch.randn(c.n_latents, c.d_model) * 0.02)
        self.encoder = nn.ModuleList(SetBlock(c.d_model, c.n_head) for _ in range(c.enc_layers))
        self.enc_norm = nn.LayerNorm(c.d_model)
        self.to_gaussian = nn.Linear(c.d_model, 2 * c.latent_dim)
        self.quantizer = MultiScaleResidualQuantizer(
            c.codebook_size, c.latent_dim, c.scales, c.beta, c.ema_decay
        )
        self.from_latent = nn.Linear(c.latent_dim, c.d_model)
        self.latent_pos = nn.Parameter(torch.randn(c.n_latents, c.d_model) * 0.02)
        self.plane_queries = nn.Parameter(torch.randn(3 * c.plane_res**2, c.d_model) * 0.02)
        self._register_load_state_dict_pre_hook(self._resize_plane_queries)
        plane_of_cell = torch.eye(3).repeat_interleave(c.plane_res**2, 0)  # one-hot plane of each query
        cells = torch.cat([fourier_features(plane_cell_coordinates(c.plane_res), c.fourier_freqs), plane_of_cell], -1)
        self.register_buffer("plane_cells", cells, persistent=False)  # (3 R^2, fourier + 3), fixed
        self.plane_pos = nn.Linear(cells.shape[1], c.d_model)
        self.decoder = nn.ModuleList(SetBlock(c.d_model, c.n_head) for _ in range(c.dec_layers))
        self.dec_norm = nn.LayerNorm(c.d_model)
        self.to_plane = nn.Linear(c.d_model, c.plane_channels)
        ch = c.plane_channels
        self.upsample = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear"),
                nn.Conv2d(ch, ch, 3, padding=1),
                nn.SiLU(),
                nn.Conv2d(ch, ch, 3, padding=1),
            )
            for _ in range(c.plane_upsample)
        )
        self.occupancy_mlp = nn.Sequential(
            nn.Linear(ch, c.mlp_hidden),
            nn.SiLU(),
            nn.Linear(c.mlp_hidden, c.mlp_hidden),
            nn.SiLU(),
            nn.Linear(c.mlp_hidden, 1),
        )

    def _resize_plane_queries(self, state_dict, prefix, *args) -> None:
        """Load plane queries of another grid size by bilinear resampling of each plane's grid, so a model
        with finer planes can start from a trained coarser one (every other weight has the same shape)."""
        key = prefix + "plane_queries"
        old = state_dict.get(key)
        if old is None or old.shape == self.plane_queries.shape:
            return
        res, d = math.isqrt(old.shape[0] // 3), old.shape[1]
        if 3 * res * res != old.shape[0] or d != self.plane_queries.shape[1]:
            return  # not a plane grid: load_state_dict reports the mismatch
        grid = old.float().view(3, res, res, d).permute(0, 3, 1, 2)
        size = (self.config.plane_res, self.config.plane_res)
        grid = F.interpolate(grid, size=size, mode="bilinear", align_corners=False)
        state_dict[key] = grid.permute(0, 2, 3, 1).reshape(-1, d).to(old.dtype)

    # 1. encoder: points -> Gaussian latents --------------------------------------------------------
    def encode_gaussian(self, surface: Tensor) -> tuple[Tensor, Tensor]:
        """surface: (B, N, 6) [xyz, normal] -> mu, logvar: (B, M, latent_dim)."""
        c = self.config
        points = self.point_proj(
            torch.cat([fourier_features(surface[..., :3], c.fourier_freqs), surface[..., 3:6]], dim=-1)
        )  # (B, N, d)
        x = torch.cat([points, self.latents.expand(len(surface), -1, -1)], dim=1)  # (B, N + M, d)
        for block in self.encoder:
            x = block(x)
        latent = self.enc_norm(x[:, -c.n_latents :])  # keep only the latent positions
        mu, logvar = self.to_gaussian(latent).chunk(2, dim=-1)
        return mu, logvar.clamp(-10, 4)

    # 2. decoder: latent tokens -> triplane -> occupancy ----------------------------------------------
    def triplane(self, tokens: Tensor) -> Tensor:
        """tokens: (B, M, latent_dim) -> planes (B, 3, C, R', R') for the xy, xz and yz planes."""
        c = self.config
        B = len(tokens)
        plane_queries = self.plane_queries + self.plane_pos(self.plane_cells)  # each knows its cell and plane
        x = torch.cat([self.from_latent(tokens) + self.latent_pos, plane_queries.expand(B, -1, -1)], dim=1)
        for block in self.decoder:
            x = block(x)
        planes = self.to_plane(self.dec_norm(x[:, c.n_latents :]))  # (B, 3 R^2, C)
        planes = planes.view(B * 3, c.plane_res, c.plane_res, -1).permute(0, 3, 1, 2)  # (3B, C, R, R)
        for up in self.upsample:
            planes = up(planes)
        return planes.view(B, 3, c.plane_channels, c.plane_size, c.plane_size)

    def occupancy_logits(self, planes: Tensor, queries: Tensor) -> Tensor:
        """planes: (B, 3, C, R', R'); queries: (B, Q, 3) in [-1, 1]^3 -> logits (B, Q)."""
        return self.occupancy_mlp(sample_triplane(planes, queries)).squeeze(-1)

    # training -----------------------------------------------------------------------------------------
    def quantize(self, z: Tensor):
        """z (B, M, D) -> (tokens for the decoder, vq loss, code perplexity)."""
        if not self.config.quantize:
            return z, z.new_zeros(()), z.new_zeros(())
        out = self.quantizer(z)
        return out.quantized, out.loss, out.perplexity

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """BCE occupancy + kl_weight * KL + VQ loss.

        Args:
            batch: "surface" (B, N, 6), "queries" (B, Q, 3), "occupancy" (B, Q) float in {0, 1}.
        """
        mu, logvar = self.encode_gaussian(batch["surface"])
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        tokens, vq_loss, _ = self.quantize(z)
        logits = self.occupancy_logits(self.triplane(tokens), batch["queries"])
        bce = F.binary_cross_entropy_with_logits(logits, batch["occupancy"].float())
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1).mean()
        return bce + self.config.kl_weight * kl + vq_loss

    # meshes ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def grid_probabilities(
        self, tokens: Tensor, resolution: int | None = None, coarse: int | None = None, chunk: int = 65536
    ) -> np.ndarray:
        """Occupancy probabilities on the cell centres of a grid over [-1, 1]^3: (R, R, R) float32.

        resolution: R (default the config's `mc_resolution`, then evaluated coarse to fine from its
        `mc_coarse`); coarse: the coarse grid of an explicit resolution (`gfx.mesh.voxels.field_grid`).
        """
        from gfx.mesh.voxels import field_grid

        if resolution is None:
            resolution, coarse = self.config.mc_resolution, self.config.mc_coarse or None
        planes = self.triplane(tokens[:1])

        def probabilities(points: np.ndarray) -> np.ndarray:
            queries = torch.from_numpy(points).to(tokens.device)[None]
            return torch.cat(
                [
                    torch.sigmoid(self.occupancy_logits(planes, queries[:, i : i + chunk]))[0]
                    for i in range(0, queries.shape[1], chunk)
                ]
            ).cpu().numpy()

        return field_grid(probabilities, resolution, coarse)

    @torch.no_grad()
    def surface_points(
        self, tokens: Tensor, n: int, seed: int = 0, resolution: int | None = None
    ) -> np.ndarray | None:
        """n area-uniform samples (n, 3) of the decoded surface of tokens (1, M, latent_dim), in the [-1, 1]^3
        frame (marching cubes of `grid_probabilities(tokens, resolution)`); None when no cell is above 0.5."""
        from gfx.mesh.voxels import devoxelize, sample_surface

        probs = self.grid_probabilities(tokens, resolution)
        if probs.max() <= 0.5:
            return None
        points, _, _ = sample_surface(*devoxelize(probs), n, seed)
        return points

    @torch.no_grad()
    def encode_latents(self, mesh: PartMesh, seeds: Sequence[int]) -> Tensor:
        """Gaussian means of a mesh in the [-1, 1]^3 frame, one per surface sample: (len(seeds), M, latent_dim)."""
        from gfx.mesh.voxels import union_surface

        samples = [np.concatenate(union_surface(mesh, self.config.n_points, seed), 1) for seed in seeds]
        mu, _ = self.encode_gaussian(torch.from_numpy(np.stack(samples)).to(self.latents.device))
        return mu

    @torch.no_grad()
    def closest_reconstruction(self, mesh: PartMesh, candidates: Tensor, seed: int = 0) -> int:
        """Index of the latent tokens (K, M, latent_dim) whose decoded surface is closest to `mesh` (in the
        [-1, 1]^3 frame): the highest F@0.05, then the lowest Chamfer, on `SELECTION_POINTS` surface samples."""
        from gfx.mesh.metrics import point_metrics
        from gfx.mesh.voxels import union_surface

        if len(candidates) == 1:
            return 0
        target, _ = union_surface(mesh, SELECTION_POINTS, seed + 1)
        scores = []
        for tokens in candidates:
            points = self.surface_points(tokens[None], SELECTION_POINTS, seed)
            if points is None:
                scores.append((0.0, -math.inf))
                continue
            m = point_metrics(points, target, (0.05,))
            scores.append((m["f@0.05"], -m["chamfer"]))
        return max(range(len(scores)), key=scores.__getitem__)

    @torch.no_grad()
    def encode(self, mesh: PartMesh, seed: int = 0, candidates: int | None = None) -> VATCodes:
        """Tokens of a mesh (normalized to [-1, 1]^3 first; every part must be closed).

        Args:
            seed: seed of the encoder's surface sample.
            candidates: K encodings from K surface samples (seeds seed, seed + 1, ...; default the config's
                `encode_candidates`); with K > 1 the one whose decoded mesh is closest to the input is kept,
                a search on the encoder side: the codes keep their size, encoding costs about K decodes.
        """
        self.eval()
        lo, hi = mesh.bounds().astype(np.float64)
        center, scale = (lo + hi) / 2, 2.0 / max(float((hi - lo).max()), 1e-9)
        normalized = mesh.normalized()
        k = candidates or self.config.encode_candidates
        latents = self.encode_latents(normalized, range(seed, seed + k))
        indices = self.quantizer.encode(latents)  # (K, n_s) per scale
        best = self.closest_reconstruction(normalized, self.quantizer.decode(indices), seed)
        return VATCodes([i[best].cpu().numpy() for i in indices], center.astype(np.float32), scale)

    @torch.no_grad()
    def decode_tokens(self, indices: list[np.ndarray]) -> Tensor:
        """Codes of the first s scales -> dequantized latent tokens (1, M, latent_dim)."""
        device = self.latents.device
        return self.quantizer.decode([torch.as_tensor(i, device=device).long()[None] for i in indices])

    @torch.no_grad()
    def decode(self, codes: VATCodes, resolution: int | None = None, name: str = "object") -> PartMesh:
        """Codes -> a one-part mesh (marching cubes of the occupancy), in the original frame."""
        from gfx.mesh.voxels import devoxelize

        self.eval()
        probs = self.grid_probabilities(self.decode_tokens(codes.indices), resolution)
        if probs.max() <= 0.5:
            raise MeshError("the decoded occupancy is empty (no cell above 0.5); the codes may be corrupt")
        vertices, faces = devoxelize(probs)
        return PartMesh.from_arrays(vertices / codes.scale + codes.center, faces, name=name, label=name)
