"""Token Recycling: training-free self-speculative decoding (Luo et al., ACL 2025, arXiv 2408.08696).

An adjacency matrix `A[V, k]` remembers, for every token, the top-k next tokens the model predicted
the last time that token was seen (the "trash" candidates of earlier steps); by default a second
table does the same per pair of last two tokens and is drafted from first (`context=2`, an extension
of the paper). Both persist across generations (the paper's hot start). Each decoding step:

1. build a draft tree from the last token(s) along a fixed tree template; under a constraint, a
   node's candidates are the remembered ones the constraint allows after the node's path (illegal
   drafts could never be accepted), so the tree holds only drafts the grammar allows;
2. verify the whole tree in one forward pass with tree attention (each node sees the cache and its
   ancestors; its position is the cache position plus its depth);
3. walk down the tree: at each node choose the next token exactly as plain decoding would (greedy,
   or the standard speculative acceptance rule for sampling) and follow the child holding it; the
   LM head runs only on the nodes the walk visits, and their top-k is recycled (`recycle="path"`);
4. keep the KV slots of the accepted path, drop the rest.

Greedy output is identical to plain greedy decoding. For sampling with deterministic drafts, child
candidates are tried in rank order: candidate d is accepted with probability p(d) under the current
residual distribution p; on rejection p(d) is zeroed and p renormalised; when all are rejected the
token is drawn from the residual. The output distribution equals plain sampling.

On a CPU a small model's forward pass costs little more for 9 tokens than for 1 (it is bound by
per-operator overhead), but the LM head over a large vocabulary grows with the rows it sees and
every tree node adds ~20 us; hence the lazy head and the default tree, a chain of 8 drafts
(bench/decoding.py compares shapes).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from gfx.backbones.constraints import Constraint, any_allowed, apply_bitmask, new_bitmask
from gfx.backbones.kv_cache import KVCache
from gfx.backbones.sampling import SamplingConfig, distribution, repetition_penalty

DEAD = -1
"""Draft token of a tree node that has no candidate (no legal entry in its parent's row)."""


def default_tree(max_depth: int = 6, rank_budget: int = 2, top_k: int = 8) -> list[tuple[int, ...]]:
    """Tree template: every path of candidate ranks with depth <= max_depth and rank sum <= rank_budget.

    A node is the tuple of ranks that leads to it from the root, e.g. (0, 1) = the second candidate
    after the first candidate. (6, 2) gives 83 nodes, (8, 1) 44, (4, 1) 14; all biased toward top-1
    chains.
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
        tree: the tree template (rank tuples, parents before children); default a chain of 8
            (`default_tree(8, 0)`), the fastest shape measured on a CPU.
        recycle: whose top-k refreshes the matrix: "path", the nodes the walk visits (the root and
            the accepted drafts, whose context is the real one; the LM head runs on those only), or
            "tree", every verified node as in the paper (one LM-head pass over the whole tree; drafts
            off the accepted path record successors seen in a context that did not happen).
        context: 1 keys candidates by the last token only (the paper's matrix); 2 also remembers
            them per pair of last two tokens (`pairs`) and drafts those first, then the matrix row.
            Structured token streams (SVG paths) often repeat a token with different successors,
            which the previous token tells apart.
        max_pairs: the pair table keeps the most recently recorded pairs up to this many (~200 bytes each),
            so a long-running server's memory stays bounded.

    The matrix and the pairs persist across calls, so later generations start with warm candidates
    (`reset_stats()` clears the acceptance counters only).
    """

    def __init__(
        self,
        vocab_size: int,
        top_k: int = 8,
        tree: list[tuple[int, ...]] | None = None,
        recycle: str = "path",
        context: int = 2,
        max_pairs: int = 1 << 16,
    ):
        if recycle not in ("path", "tree"):
            raise ValueError(f"recycle must be 'path' or 'tree', got {recycle!r}")
        if context not in (1, 2):
            raise ValueError(f"context must be 1 or 2 tokens, got {context}")
        self.top_k, self.recycle, self.context = top_k, recycle, context
        self.adjacency = torch.arange(top_k).repeat(vocab_size, 1) % vocab_size  # (V, k)
        self.pairs: dict[tuple[int, int], list[int]] = {}  # (previous, last) -> top-k next tokens, oldest first
        self.max_pairs = max_pairs
        template = default_tree(8, 0, top_k) if tree is None else list(tree)
        known = {()}
        for node in template:
            if node[:-1] not in known or node[-1] >= top_k:
                raise ValueError(
                    f"tree node {node}: its parent must come first and ranks must be < top_k {top_k}"
                )
            known.add(node)
        # number the nodes in depth-first order, lower ranks first: the all-top-1 path is 0, 1, 2, ...
        # so accepting it needs no KV-cache copy
        order = [()] + sorted(set(template))
        index = {node: i for i, node in enumerate(order)}
        n = len(order)
        self.parents = [0] + [index[node[:-1]] for node in order[1:]]
        self.ranks = [0] + [node[-1] for node in order[1:]]  # node -> its rank under its parent
        self.children: list[list[int]] = [[] for _ in range(n)]
        for i in range(1, n):
            self.children[self.parents[i]].append(i)  # in rank order
        self.depths = torch.tensor([len(node) for node in order], dtype=torch.long)
        ancestors = torch.eye(n, dtype=torch.bool)
        for i in range(1, n):
            ancestors[i] |= ancestors[self.parents[i]]
        self.ancestors = ancestors  # (N, N): node i may attend node j
        self.deepest_first = sorted(range(n), key=lambda i: -len(order[i]))
        self.reset_stats()

    @property
    def tree_size(self) -> int:
        """Nodes verified per forward pass, the root included."""
        return len(self.ranks)

    def reset_stats(self) -> None:
        """Zero the acceptance counters (`mean_accepted`); the matrix and the pairs stay warm."""
        self.accepted_total = 0
        self.verify_steps = 0

    @property
    def mean_accepted(self) -> float:
        """Draft tokens accepted per verification pass so far (plus one chosen token per pass)."""
        return self.accepted_total / max(self.verify_steps, 1)

    def draft(self, last: int, constraint: Constraint | None = None, previous: int = DEAD) -> list[int]:
        """Draft token of every tree node (node 0 = `last`, after `previous`); `DEAD` where no
        candidate is left.

        With a constraint (in the state after `last`), a node of rank r holds the r-th candidate of
        its parent that the constraint allows after the parent's path; the constraint ends in the
        state it started in.
        """
        tokens = [DEAD] * self.tree_size
        tokens[0] = last
        self._expand(0, tokens, constraint, previous)
        return tokens

    def candidates(self, last: int, previous: int = DEAD) -> list[int]:
        """Remembered next tokens after `previous, last`, best first: the pair's, then the matrix row's."""
        row = self.adjacency[last].tolist()
        pair = self.pairs.get((previous, last)) if self.context == 2 else None
        return row if pair is None else pair + [t for t in row if t not in pair]

    def _expand(self, node: int, tokens: list[int], constraint: Constraint | None, previous: int) -> None:
        children = self.children[node]
        if not children:
            return
        row = self.candidates(tokens[node], previous if node == 0 else tokens[self.parents[node]])
        if constraint is not None:
            wanted, legal = self.ranks[children[-1]] + 1, []
            for token in row:
                if constraint.accepts(token):
                    legal.append(token)
                    if len(legal) == wanted:
                        break
            row = legal
        for child in children:
            if self.ranks[child] >= len(row):
                break
            tokens[child] = row[self.ranks[child]]
            if not self.children[child]:
                continue
            if constraint is None:
                self._expand(child, tokens, None, previous)
            elif constraint.advance(tokens[child]):
                self._expand(child, tokens, constraint, previous)
                constraint.rollback(1)

    def record(self, last: int, top: Tensor, previous: int = DEAD) -> None:
        """Recycle a verified prediction: top (top_k,) long, the model's best next tokens after
        `previous, last`."""
        self.adjacency[last] = top
        if self.context == 2:
            key = (previous, last)
            self.pairs.pop(key, None)  # re-insert: the dict's order is the recording order
            self.pairs[key] = top.tolist()
            if len(self.pairs) > self.max_pairs:
                del self.pairs[next(iter(self.pairs))]

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
        capacity = P + prompt.shape[0] + max_new_tokens + N
        cache = model.new_cache(1, capacity)
        logits = model(prompt[None], prefix=prefix, prefix_mask=prefix_mask, cache=cache, logits_to_keep=1)[0]
        passes = 1
        vocab_size = logits.shape[-1]
        stop = set(int(t) for t in stop_tokens)
        seen = None
        if sampling.repetition_penalty != 1.0:
            seen = torch.zeros(1, vocab_size, dtype=torch.bool, device=device)
            seen[0, prompt] = True
        bitmask = new_bitmask(1, vocab_size) if constraint is not None else None
        ancestors, depths = self.ancestors.to(device), self.depths.to(device)
        visible = torch.ones(N, capacity, dtype=torch.bool, device=device)  # tree-attention mask buffer
        lazy_head = hasattr(model, "hidden") and hasattr(model, "head")
        out: list[int] = []
        last_prompt_token = int(prompt[-1])

        def choose_next(scores: Tensor, candidates: list[int]) -> tuple[int | None, int | None]:
            """Plain decoding's choice at one node; returns (token, index of the matching candidate)."""
            if sampling.greedy:
                scores = scores.float()
                if seen is not None:
                    scores = repetition_penalty(scores, seen, sampling.repetition_penalty)
                token = int(scores.argmax(-1))
                # the unmasked argmax, when allowed, is also the masked one: skip the mask
                if constraint is not None and not constraint.accepts(token):
                    constraint.fill_mask(bitmask.fill_(-1), 0)
                    if not any_allowed(bitmask, vocab_size):
                        return None, None
                    token = int(apply_bitmask(scores, bitmask).argmax(-1))
                return token, candidates.index(token) if token in candidates else None
            if constraint is not None:
                constraint.fill_mask(bitmask.fill_(-1), 0)
                if not any_allowed(bitmask, vocab_size):
                    return None, None
                scores = apply_bitmask(scores, bitmask)
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
            # 1. draft tree from the last token; 2. verify it in one pass with tree attention:
            # every node sees the whole cache (padding is masked by the model) and its ancestors
            previous = out[-2] if len(out) > 1 else last_prompt_token
            drafts = self.draft(token, constraint, previous)
            tokens = torch.tensor([max(t, 0) for t in drafts], dtype=torch.long, device=device)
            L, start_position = cache.length, cache.position
            mask = visible[:, : L + N]
            mask[:, L:] = ancestors
            kwargs = dict(cache=cache, position_ids=(start_position + depths)[None], attn_mask=mask[None])
            if lazy_head and self.recycle == "path":
                rows, head = model.hidden(tokens[None], **kwargs)[0], model.head  # (N, C) hidden states
            else:
                rows, head = model(tokens[None], **kwargs)[0], None  # (N, V) logits
                if self.recycle == "tree":  # deepest first: shallower nodes (more often real) win
                    top = rows.topk(self.top_k, dim=-1).indices.cpu()
                    for i in self.deepest_first:
                        if drafts[i] != DEAD:
                            self.record(drafts[i], top[i], previous if i == 0 else drafts[self.parents[i]])
            mask[:, L:] = True
            passes += 1
            # 3. walk down the tree, choosing each token as plain decoding would
            node, path = 0, []
            while True:
                scores = rows[node : node + 1] if head is None else head(rows[node : node + 1])
                if self.recycle == "path":
                    before = previous if node == 0 else drafts[self.parents[node]]
                    self.record(drafts[node], scores[0].topk(self.top_k).indices.cpu(), before)
                children = [c for c in self.children[node] if drafts[c] != DEAD]
                token, j = choose_next(scores, [drafts[c] for c in children])
                if j is None:
                    break  # `token` (if any) is the pass's extra token, emitted at the loop head
                node = children[j]
                path.append(node)
                if (result := emit(token)) is not None:
                    return result
            # 4. keep the root and the accepted path in the cache, drop the other drafts
            keep_path(cache, L, start_position, [0, *path])
            self.accepted_total += len(path)
            self.verify_steps += 1
        return result


def keep_path(cache, start: int, start_position: int, nodes: list[int]) -> None:
    """After a tree pass, keep the slots of `nodes` (tree indices, increasing) and drop the other nodes.

    Args:
        cache: a `KVCache` (its tree slots are copied in place), or any cache with `gather`/`crop`.
        start: cache length before the tree pass; the tree occupies slots start, start + 1, ...
        start_position: the cache position before the tree pass.
    """
    n = len(nodes)
    if nodes != list(range(n)):
        slots = start + torch.tensor(nodes, dtype=torch.long)
        if isinstance(cache, KVCache):  # copy n slots instead of gathering the whole cache
            cache.keep(start, slots)
        else:
            cache.gather(torch.cat([torch.arange(start), slots]))
    cache.crop(start + n)
    cache.position = start_position + n
