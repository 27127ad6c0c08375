"""Token-embedding injection: put given vectors at a text encoder's input wherever a placeholder token appears.

transformers 5.x's `CLIPTextModel.forward` takes only `input_ids` (no `inputs_embeds`), so the portable way in is a
forward hook on `text_encoder.get_input_embeddings()` that overwrites the rows of the placeholder positions.
Gradients flow to the injected vectors (textual inversion, style tokens, location tokens).

    [sid] = add_placeholder_tokens(pipe.tokenizer, pipe.text_encoder, ["<style>"])
    with inject_embeddings(pipe.text_encoder, {sid: vector}):       # vector: (D,) or (n, D) for n occurrences
        states = encode_prompts(pipe, ["a circle in <style> style"])
    set_token_embeddings(pipe.tokenizer, pipe.text_encoder, {"<style>": vector})   # for good, as
                                                                    # pipe.load_textual_inversion does
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import torch

EMBEDDINGS_NAME = "learned_embeds.safetensors"
"""The file name diffusers' `load_textual_inversion(directory)` looks for."""


def save_vectors(path: str | Path, vectors: Mapping[str, torch.Tensor]) -> Path:
    """Write {token: (D,)} to a safetensors file, float32: diffusers' textual-inversion format, which
    `pipe.load_textual_inversion(path)` reads (a file of one vector needs no `token=`)."""
    from safetensors.torch import save

    from gfx.files import write_bytes

    write_bytes(path, save({t: v.detach().float().cpu().contiguous() for t, v in vectors.items()}))
    return Path(path)


def load_vectors(path: str | Path) -> dict[str, torch.Tensor]:
    """{token: (D,)} from a file `save_vectors` (or diffusers' textual inversion) wrote."""
    from safetensors.torch import load_file

    return load_file(str(path))


def add_placeholder_tokens(tokenizer, text_encoder, names: Sequence[str]) -> list[int]:
    """Add tokens `names` to the tokenizer (whole, never split) and grow the encoder's embedding table; returns
    their ids. A name the tokenizer already has is an error: it would silently change an existing word."""
    taken = [n for n in names if n in tokenizer.get_vocab()]
    if taken:
        raise ValueError(f"the tokenizer already has {taken}; pick placeholder names it lacks, e.g. '<style>'")
    tokenizer.add_tokens(list(names), special_tokens=False)
    text_encoder.resize_token_embeddings(len(tokenizer))
    return tokenizer.convert_tokens_to_ids(list(names))


def set_token_embeddings(tokenizer, text_encoder, vectors: Mapping[str, torch.Tensor]) -> list[int]:
    """Make `vectors[name]` ((D,) each) the input embedding of token `name`, adding the names the tokenizer lacks;
    returns their ids. Tokens added earlier (placeholders) are overwritten; a word of the tokenizer's own
    vocabulary is an error."""
    vocab, added = tokenizer.get_vocab(), set(tokenizer.added_tokens_encoder)
    own = [n for n in vectors if n in vocab and (n not in added or n in tokenizer.all_special_tokens)]
    if own:
        raise ValueError(f"{own} are words of the tokenizer's own vocabulary; learned vectors need placeholder names")
    missing = [n for n in vectors if n not in vocab]
    if missing:
        add_placeholder_tokens(tokenizer, text_encoder, missing)
    ids = tokenizer.convert_tokens_to_ids(list(vectors))
    table = text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        for i, vector in zip(ids, vectors.values(), strict=True):
            table[i] = vector.to(table.dtype).to(table.device)
    return ids


def inject_embeddings(text_encoder, vectors: Mapping[int, torch.Tensor]):
    """Context manager: while open, the input embedding of token id `i` is `vectors[i]` wherever `i` occurs.

    Args:
        vectors: {token id: (D,) one vector for every occurrence, or (n, D) the k-th row for the k-th occurrence
            in each prompt}.
    """

    def hook(module, inputs, output):  # output: (B, T, D) embeddings of inputs[0]: (B, T) ids
        ids = inputs[0]
        output = output.clone()
        for token, vector in vectors.items():
            rows = vector.to(output.dtype).reshape(-1, output.shape[-1])
            for b in range(ids.shape[0]):
                where = (ids[b] == token).nonzero().flatten()
                if len(where) > len(rows) > 1:
                    raise ValueError(f"token {token} occurs {len(where)} times but {len(rows)} vectors were given")
                if len(where):
                    output[b, where] = rows[: len(where)] if len(rows) > 1 else rows.expand(len(where), -1)
        return output

    return _embedding_hook(text_encoder, hook)


def inject_rows(text_encoder, tokens: Sequence[int], vectors: torch.Tensor):
    """Context manager: while open, token `tokens[k]` of prompt row b embeds as `vectors[b, k]` (per-row vectors,
    e.g. style tokens computed from each row's reference image).

    Args:
        tokens: n token ids; vectors: (B, n, D), B the batch the text encoder is then called with.
    """

    def hook(module, inputs, output):  # output: (B, T, D) embeddings of inputs[0]: (B, T) ids
        ids = inputs[0]
        if ids.shape[0] != vectors.shape[0]:
            raise ValueError(f"{vectors.shape[0]} rows of vectors for a batch of {ids.shape[0]} prompts")
        output = output.clone()
        for k, token in enumerate(tokens):
            rows, cols = (ids == token).nonzero(as_tuple=True)
            output[rows, cols] = vectors[rows, k].to(output.dtype)
        return output

    return _embedding_hook(text_encoder, hook)


@contextlib.contextmanager
def _embedding_hook(text_encoder, hook) -> Iterator[None]:
    handle = text_encoder.get_input_embeddings().register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
