"""Token Recycling: training-free self-speculative decoding (Luo et al., ACL 2025, arXiv 2408.08696).

An adjacency matrix `A[V, k]` remembers, for every token, the top-k next tokens the model predicted
the last time that token was seen (the "trash" candidates of earlier steps). Each decoding step:

1. build a draft tree from the last token by following `A` along a fixed tree template;
2. verify the whole tree in one forward pass with tree attention (each node sees the cache and its
   ancestors; its position is the cache position plus its depth);
3. walk down the tree: at each node choose the next token exactly as plain decoding would (greedy,
   or the standard speculative acceptance rule for sampling) and follow the child holding it;
4. keep the KV slots of the accepted path (`KVCache.gather`), drop the rest, and update `A` with
   the top-k of every verified node.

Greedy output is identical to plain greedy decoding. For sampling with deterministic drafts, child
candidates are tried in rank order: candidate d is accepted with probability p(d) under the current
residual distribution p; on rejection p(d) is zeroed and p renormalised; when all are rejected the
token is drawn from the residual. The output distribution equals plain sampling.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from gfx.backbones.constraints import Constraint, any_allowed, apply_bitmask, new_bitmask
from gfx.backbones.sampling import SamplingConfig, distribution, repetition_penalty


def default_tree(max_depth: int = 6, rank_budget: int = 2, top_k: int = 8) -> list[tuple[int, ...]]:
    """Tree template: every path of candidate ranks with depth <= max_depth and rank sum <= rank_budget.

    A node is the tuple of ranks that leads to it from the root, e.g. (0, 1) = the second candidate
    after the first candidate. (6, 2) gives 83 nodes, biased toward top-1 chains.
    """
    nodes = []
    for depth in range(1, max_depth + 1):
        for ranks in itertools.product(range(min(top_k, rank_budget + 1)), repeat=depth):
            if sum(ranks) <= rank_budget:
                nodes.append(ranks)
    return nodes


def accept_candidates(
    probs: Tensor, candidates: list[int], generator: torch.Generator | None = None
) -> tuple[int, int | None]:
    """Speculative acceptance with deterministic draft candidates; the result is distributed as `probs`.

    Candidate d is accepted with probability p(d) under the current residual p; on rejection p(d) is
    zeroed and p renormalised; when every candidate is rejected the token is drawn from the residual.

    Args:
        probs: (V,) target probabilities.
        candidates: distinct draft tokens, tried in order.

    Returns:
        (token, index of the accepted candidate or None).
    """
    probs = probs.clone()
    for j, cand in enumerate(candidates):
        p = float(probs[cand])
        if p > 0 and float(torch.rand((), generator=generator, device=probs.device)) < p:
            return cand, j
        probs[cand] = 0.0
        total = probs.sum()
        if total <= 0:
            break
        probs = probs / total
    return int(torch.multinomial(probs, 1, generator=generator)), None


@dataclass
class RowResult:
    """Tokens of one speculatively decoded row."""

    tokens: list[int]
    finished: bool
    valid: bool
    forward_passes: int


class TokenRecycling:
    """Draft-tree source and verifier for self-speculative decoding; pass as `generate(..., draft=...)`.

    Args:
        vocab_size: the model's vocabulary size.
        top_k: candidates remembered per token.
        tree: the tree template (rank tuples, parents before children); default `default_tree()`.

    The adjacency matrix persists across calls, so later generations start with warm candidates.
    """

    def __init__(self, vocab_size: int, top_k: int = 8, tree: list[tuple[int, ...]] | None = None):
        self.top_k = top_k
        self.adjacency = torch.arange(top_k).repeat(vocab_size, 1) % vocab_size  # (V, k)
        tree = tree if tree is not None else default_tree(top_k=top_k)
        index = {(): 0}
        parents, ranks, depths = [], [], [0]
        for node in tree:
            if node[:-1] not in index or node[-1] >= top_k:
                raise ValueError(
                    f"tree node {node}: its parent must come first and ranks must be < top_k {top_k}"
                )
            index[node] = len(index)
            parents.append(index[node[:-1]])
            ranks.append(node[-1])
            depths.append(len(node))
        n = len(index)
        self.parents = torch.tensor(parents, dtype=torch.long)
        self.ranks = torch.tensor(ranks, dtype=torch.long)
        self.depths = torch.tensor(depths, dtype=torch.long)
        ancestors = torch.eye(n, dtype=torch.bool)
        for i, p in enumerate(parents, start=1):
            ancestors[i] |= ancestors[p]
        self.ancestors = ancestors  # (N, N): node i may attend node j
        self.children: list[list[int]] = [[] for _ in range(n)]
        for i, p in enumerate(parents, start=1):
            self.children[p].append(i)  # in rank order, as the template lists them
        self.levels = [
            torch.nonzero(self.depths == d).flatten() for d in range(1, int(self.depths.max()) + 1)
        ]
        self.accepted_total = 0
        self.verify_steps = 0

    @property
    def tree_size(self) -> int:
        """Nodes verified per forward pass, the root included."""
        return len(self.depths)

    def draft(self, last: int) -> Tensor:
        """Draft tokens for every tree node (node 0 = `last`): (N,) long."""
        tokens = torch.empty(self.tree_size, dtype=torch.long)
        tokens[0] = last
        for level in self.levels:
            tokens[level] = self.adjacency[tokens[self.parents[level - 1]], self.ranks[level - 1]]
        return tokens

    @torch.no_grad()
    def generate_row(
        self,
        model,
        prompt: Tensor,
        *,
        max_new_tokens: int,
        sampling: SamplingConfig,
        prefix: Tensor | None = None,
        prefix_mask: Tensor | None = None,
        stop_tokens=(),
        constraint: Constraint | None = None,
        generator: torch.Generator | None = None,
    ) -> RowResult:
        """Decode one sequence. prompt: (T,) long; prefix: (1, P, prefix_dim) or None."""
        device = prompt.device  # the adjacency matrix and the tree stay on the CPU; drafts are moved
        N = self.tree_size
        P = 0 if prefix is None else prefix.shape[1]
        cache = model.new_cache(1, P + prompt.shape[0] + max_new_tokens + N)
        logits = model(prompt[None], prefix=prefix, prefix_mask=prefix_mask, cache=cache, logits_to_keep=1)[0]
        passes = 1
        stop = set(int(t) for t in stop_tokens)
        seen = None
        if sampling.repetition_penalty != 1.0:
            seen = torch.zeros(1, logits.shape[-1], dtype=torch.bool, device=device)
            seen[0, prompt] = True
        bitmask = new_bitmask(1, logits.shape[-1]) if constraint is not None else None
        out: list[int] = []

        def choose_next(scores: Tensor, candidates: list[int]) -> tuple[int | None, int | None]:
            """Plain decoding's choice at one node; returns (token, index of the matching candidate)."""
            if constraint is not None:
                constraint.fill_mask(bitmask.fill_(-1), 0)
                if not any_allowed(bitmask, scores.shape[-1]):
                    return None, None
                scores = apply_bitmask(scores, bitmask)
            if sampling.greedy:
                if seen is not None:
                    scores = repetition_penalty(scores.float(), seen, sampling.repetition_penalty)
                token = int(scores.argmax(-1))
                return token, candidates.index(token) if token in candidates else None
            return accept_candidates(distribution(scores, sampling, seen)[0], candidates, generator)

        def emit(token: int | None) -> RowResult | None:
            """Append a chosen token; the row's result when it ends the sequence."""
            if token is None:
                return RowResult(out, True, False, passes)
            out.append(token)
            if seen is not None:
                seen[0, token] = True
            if constraint is not None and not constraint.advance(token):
                raise RuntimeError(f"constraint refused token {token} that it allowed")
            if token in stop or (constraint is not None and constraint.is_done()):
                return RowResult(out, True, True, passes)
            if len(out) >= max_new_tokens:
                return RowResult(out, False, True, passes)
            return None

        token, _ = choose_next(logits, [])  # the first token comes from the prefill, as in plain decoding
        while (result := emit(token)) is None:
            # 1. draft tree from the last token; 2. verify it in one pass with tree attention
            drafts = self.draft(token)
            tokens = drafts.to(device)
            L, start_position = cache.length, cache.position
            # every query sees the whole cache (padding is masked by the model) and its tree ancestors
            mask = torch.cat(
                [torch.ones(N, L, dtype=torch.bool, device=device), self.ancestors.to(device)], 1
            )
            positions = start_position + self.depths.to(device)
            logits = model(tokens[None], cache=cache, position_ids=positions[None], attn_mask=mask[None])[0]
            passes += 1
            self.adjacency[drafts] = logits.topk(self.top_k, dim=-1).indices.cpu()
            # 3. walk down the tree, choosing each token as plain decoding would
            node, path, drafts = 0, [], drafts.tolist()
            while True:
                children = self.children[node]
                token, j = choose_next(logits[node : node + 1], [drafts[c] for c in children])
                if j is None:
                    break  # `token` (if any) is the pass's extra token, emitted at the loop head
                node = children[j]
                path.append(node)
                if (result := emit(token)) is not None:
                    return result
            # 4. keep the root and the accepted path in the cache, drop the other drafts
            cache.gather(torch.cat([torch.arange(L), L + torch.tensor([0, *path], dtype=torch.long)]))
            cache.position = start_position + 1 + len(path)
            self.accepted_total += len(path)
            self.verify_steps += 1
        return result

    @property
    def mean_accepted(self) -> float:
        """Draft tokens accepted per verification pass so far (plus one chosen token per pass)."""
        return self.accepted_total / max(self.verify_steps, 1)
