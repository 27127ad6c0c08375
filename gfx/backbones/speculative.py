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
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from gfx.backbones.constraints import Constraint, new_bitmask
from gfx.backbones.decoding import GenerationOutput, ModelInputs, advance, per_row, prefill
from gfx.backbones.kv_cache import KVCache
from gfx.backbones.masking import mask_rows
from gfx.backbones.sampling import SamplingConfig, choose, distribution, make_generator

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


class SpeculativeRow:
    """One row of speculative decoding: its tokens so far, and steps 4 and 5 of `generate` for it.

    Args:
        prompt: (T,) long, the row's unpadded prompt (seeds `seen` under a repetition penalty).
        vocab_size: the model's logits width.
        sampling, constraint, generator, stop_tokens, max_new_tokens: as in `generate_speculative`.
    """

    def __init__(
        self,
        prompt: Tensor,
        vocab_size: int,
        sampling: SamplingConfig,
        constraint: Constraint | None,
        generator: torch.Generator | None,
        stop_tokens: Sequence[int],
        max_new_tokens: int,
    ):
        self.sampling, self.constraint, self.generator = sampling, constraint, generator
        self.stop = {int(t) for t in stop_tokens}
        self.max_new_tokens = max_new_tokens
        self.tokens: list[int] = []
        self.finished, self.valid, self.ended = False, True, False
        self.forward_passes = 0
        self.seen = None
        if sampling.repetition_penalty != 1.0:
            self.seen = torch.zeros(1, vocab_size, dtype=torch.bool, device=prompt.device)
            self.seen[0, prompt] = True
        self.bitmask = new_bitmask(1, vocab_size) if constraint is not None else None

    def choose(self, scores: Tensor, candidates: list[int]) -> tuple[int | None, int | None]:
        """Plain decoding's choice after one tree node: scores (1, V) logits; candidates: the node's
        children's drafts. Returns (token or None at a dead end, index of the matching candidate or None)."""
        if self.sampling.greedy:
            # the unmasked argmax, when allowed, is also the masked one: skip the mask
            token = int(choose(scores, self.sampling, None, self.seen))
            if self.constraint is not None and not self.constraint.accepts(token):
                scores, dead = mask_rows(scores, [self.constraint], [0], self.bitmask)
                if dead[0]:
                    return None, None
                token = int(choose(scores, self.sampling, None, self.seen))
            return token, candidates.index(token) if token in candidates else None
        if self.constraint is not None:
            scores, dead = mask_rows(scores, [self.constraint], [0], self.bitmask)
            if dead[0]:
                return None, None
        return accept_candidates(distribution(scores, self.sampling, self.seen)[0], candidates, self.generator)

    def emit(self, token: int | None) -> bool:
        """Append a chosen token (None: a dead end); True once the row has ended."""
        if token is None:
            self.finished, self.valid, self.ended = True, False, True
            return True
        self.tokens.append(token)
        if self.seen is not None:
            self.seen[0, token] = True
        if self.constraint is not None and advance(self.constraint, token):
            self.finished = True
        self.finished = self.finished or token in self.stop
        self.ended = self.finished or len(self.tokens) >= self.max_new_tokens
        return self.ended


class TokenRecycling:
    """Draft-tree source and verifier for self-speculative decoding: `generate_speculative(..., draft=...)`.

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
    def generate_row(self, model, inputs: ModelInputs, row: SpeculativeRow) -> SpeculativeRow:
        """Decode one sequence into `row`: inputs hold one unpadded prompt (1, T) and its prefix (1, P, D) or None."""
        device = inputs.tokens.device  # the adjacency matrix and the tree stay on the CPU; drafts are moved
        capacity = inputs.positions + row.max_new_tokens + self.tree_size
        cache = model.new_cache(1, capacity)
        visible = torch.ones(self.tree_size, capacity, dtype=torch.bool, device=device)  # tree-mask buffer
        logits = prefill(model, inputs, cache)
        row.forward_passes = 1
        last_prompt_token = int(inputs.tokens[0, -1])
        token, _ = row.choose(logits, [])  # the first token comes from the prefill, as in plain decoding
        while not row.emit(token):
            previous = row.tokens[-2] if len(row.tokens) > 1 else last_prompt_token
            # 1. draft tree from the last token(s)
            drafts = self.draft(token, row.constraint, previous)
            # 2. verify it in one forward pass with tree attention
            start, start_position = cache.length, cache.position
            states, head = self.verify(model, cache, drafts, previous, visible)
            row.forward_passes += 1
            # 3. walk down the tree, choosing each token as plain decoding would
            path, token = self.walk(states, head, drafts, previous, row)
            if row.ended:
                break
            # 4. keep the root and the accepted path in the cache, drop the other drafts
            keep_path(cache, start, start_position, [0, *path])
            self.accepted_total += len(path)
            self.verify_steps += 1
        return row

    def verify(
        self, model, cache, drafts: list[int], previous: int, visible: Tensor
    ) -> tuple[Tensor, Callable[[Tensor], Tensor] | None]:
        """Run every tree node in one pass: a node sees the whole cache (the model masks padding) and its
        ancestors, at the cache position plus its depth.

        Args:
            drafts: the draft token per node (`draft`); previous: the token before the root.
            visible: (N, capacity) bool all-True buffer of the tree mask (left all-True).

        Returns:
            (N, C) hidden states and the LM head to apply to them (`recycle="path"` on a model with
            `hidden`/`head`), or (N, V) logits and None.
        """
        N, L = self.tree_size, cache.length
        tokens = torch.tensor([max(t, 0) for t in drafts], dtype=torch.long, device=visible.device)
        mask = visible[:, : L + N]
        mask[:, L:] = self.ancestors
        positions = (cache.position + self.depths.to(visible.device))[None]
        kwargs = dict(cache=cache, position_ids=positions, attn_mask=mask[None])
        if self.recycle == "path" and hasattr(model, "hidden") and hasattr(model, "head"):
            states, head = model.hidden(tokens[None], **kwargs)[0], model.head
        else:
            states, head = model(tokens[None], **kwargs)[0], None
            if self.recycle == "tree":  # deepest first: shallower nodes (more often real) win
                top = states.topk(self.top_k, dim=-1).indices.cpu()
                for i in self.deepest_first:
                    if drafts[i] != DEAD:
                        self.record(drafts[i], top[i], previous if i == 0 else drafts[self.parents[i]])
        mask[:, L:] = True
        return states, head

    def walk(
        self, states: Tensor, head, drafts: list[int], previous: int, row: SpeculativeRow
    ) -> tuple[list[int], int | None]:
        """Follow the tree from the root while the token plain decoding chooses is a child's draft.

        Emits the accepted drafts into `row` (stopping early if it ends) and recycles the visited
        nodes' top-k (`recycle="path"`).

        Returns:
            the accepted nodes, and the pass's extra token (chosen off the tree; None at a dead end).
        """
        node, path = 0, []
        while True:
            scores = states[node : node + 1] if head is None else head(states[node : node + 1])
            if self.recycle == "path":
                before = previous if node == 0 else drafts[self.parents[node]]
                self.record(drafts[node], scores[0].topk(self.top_k).indices.cpu(), before)
            children = [c for c in self.children[node] if drafts[c] != DEAD]
            token, j = row.choose(scores, [drafts[c] for c in children])
            if j is None:
                return path, token
            node = children[j]
            path.append(node)
            if row.emit(token):
                return path, None


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


@torch.no_grad()
def generate_speculative(
    model,
    prompt: Tensor,
    *,
    draft: TokenRecycling,
    max_new_tokens: int,
    sampling: SamplingConfig | None = None,
    prompt_mask: Tensor | None = None,
    prefix: Tensor | None = None,
    prefix_mask: Tensor | None = None,
    stop_tokens: Sequence[int] = (),
    constraints: Sequence[Constraint | None] | None = None,
    pad_id: int = 0,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> GenerationOutput:
    """Self-speculative decoding, one row at a time (rows accept different numbers of tokens).

    Greedy output equals `generate`'s; sampled output has its distribution. Arguments as in `generate`
    (with the KV cache, no guidance); `draft` is the `TokenRecycling` whose matrix drafts and learns.
    """
    sampling = sampling or SamplingConfig()
    generator = generator or make_generator(seed, prompt.device)
    constraints = per_row(constraints, len(prompt))
    B, device = prompt.shape[0], prompt.device
    tokens = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
    lengths = torch.zeros(B, dtype=torch.long, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    valid = torch.ones(B, dtype=torch.bool)
    passes = 0
    for i in range(B):
        row_prompt = prompt[i, prompt_mask[i]] if prompt_mask is not None else prompt[i]
        inputs = ModelInputs(
            row_prompt[None],
            prefix=None if prefix is None else prefix[i : i + 1],
            prefix_mask=None if prefix_mask is None else prefix_mask[i : i + 1],
        )
        row = SpeculativeRow(
            row_prompt, model.config.vocab_size, sampling, constraints[i], generator, stop_tokens, max_new_tokens
        )
        draft.generate_row(model, inputs, row)
        n = len(row.tokens)
        tokens[i, :n] = torch.as_tensor(row.tokens, dtype=torch.long)
        lengths[i], finished[i], valid[i] = n, row.finished, row.valid
        passes += row.forward_passes
    return GenerationOutput(tokens, lengths, finished, valid, torch.zeros(B, dtype=torch.float64), passes)
