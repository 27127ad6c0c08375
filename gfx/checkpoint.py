"""A model is a directory: `config.json` + `model.safetensors` (+ `tokenizer.json`).

    model.save_pretrained("models/icon-tiny", dtype=torch.float16)   # fp16 storage, half the size
    model = Transformer.from_pretrained("models/icon-tiny")           # local only, never the network

Tied weights (one tensor under several names) are stored once and restored as aliases. Floating
tensors stored in a smaller dtype are cast back to the model's dtype on load. A tokenizer is saved
through its own `save(path)`; the pipeline that owns it loads it back with its own loader from
`tokenizer_path(directory)`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors import safe_open
from safetensors.torch import save_file

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_NAME = "tokenizer.json"
PIPELINE_NAME = "pipeline.json"

M = TypeVar("M", bound="PretrainedMixin")


def tokenizer_path(directory: str | Path) -> Path:
    """Where a checkpoint directory keeps its tokenizer (it may not exist)."""
    return Path(directory) / TOKENIZER_NAME


def save_pretrained(
    model: torch.nn.Module,
    directory: str | Path,
    *,
    config: Any = None,
    tokenizer: Any = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write `model`'s weights (and config, tokenizer) into `directory`, creating it.

    Args:
        model: the module whose `state_dict()` is saved.
        directory: the checkpoint directory.
        config: an object with `to_json(path)`; defaults to `model.config` when present.
        tokenizer: an object with `save(path)`; written as tokenizer.json when given.
        dtype: storage dtype for floating tensors (e.g. torch.float16 to halve the size); None keeps
            each tensor's own dtype.

    Returns:
        The directory path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = config if config is not None else getattr(model, "config", None)
    if config is not None:
        config.to_json(directory / CONFIG_NAME)
    tensors, aliases = _dedupe(model.state_dict())
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    metadata = {"format": "pt", "gfx_aliases": json.dumps(aliases)}
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in tensors.items()}, directory / WEIGHTS_NAME, metadata
    )
    if tokenizer is not None:
        tokenizer.save(tokenizer_path(directory))
    return directory



def save_pipeline(model: torch.nn.Module, tokenizer: Any, config: Any, directory: str | Path,
                  dtype: torch.dtype | None = None) -> Path:
    """A pipeline directory: the model's files, its tokenizer.json and the pipeline's own settings
    (`config.to_json`) as pipeline.json. Returns the directory."""
    directory = save_pretrained(model, directory, tokenizer=tokenizer, dtype=dtype)
    config.to_json(directory / PIPELINE_NAME)
    return directory


def load_pipeline_config(directory: str | Path, config_class: type, what: str, recipe: str) -> Any:
    """The pipeline.json of a pipeline directory as `config_class`; FileNotFoundError says how to get one.

    Args:
        what: the model kind for the message, with its article ("an IconShop model").
        recipe: the `gfx train` recipe that produces it.
    """
    path = Path(directory) / PIPELINE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not {what} (no {PIPELINE_NAME}); "
                                f"train one with `gfx train {recipe}` or pass --model DIR")
    return config_class.from_json(path)

def _dedupe(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Split a state dict into unique tensors and alias -> stored-name links for shared storage."""
    seen: dict[tuple, str] = {}
    tensors, aliases = {}, {}
    for name, tensor in state.items():
        key = (
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tensor.stride(),
        )
        if tensor.numel() and key in seen:
            aliases[name] = seen[key]
        else:
            seen[key] = name
            tensors[name] = tensor
    return tensors, aliases


def load_weights(model: torch.nn.Module, directory: str | Path, new_modules: tuple[str, ...] = ()) -> torch.nn.Module:
    """Load `directory/model.safetensors` into `model` (strict), casting to the model's dtypes.

    `new_modules`: name prefixes of entries the file may lack (modules added since it was saved keep
    their initialization; a warm start).
    """
    path = _require(Path(directory), WEIGHTS_NAME)
    target = model.state_dict()
    state = {}
    with safe_open(str(path), framework="pt") as f:
        aliases = json.loads((f.metadata() or {}).get("gfx_aliases", "{}"))
        for name in f.keys():
            tensor = f.get_tensor(name)
            if name in target and tensor.is_floating_point():
                tensor = tensor.to(target[name].dtype)
            state[name] = tensor
    for alias, source in aliases.items():
        state[alias] = state[source]
    absent = set(target) - set(state)
    missing = sorted(k for k in absent if not k.startswith(new_modules))
    state.update({k: target[k] for k in absent if k.startswith(new_modules)})
    unexpected = sorted(set(state) - set(target))
    if missing or unexpected:
        raise ValueError(
            f"{path} does not match {type(model).__name__}: missing {missing[:8]}, unexpected "
            f"{unexpected[:8]}; was it saved from a different model class or config?"
        )
    model.load_state_dict(state, strict=True)
    return model


def _require(directory: Path, name: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; a checkpoint is a local directory with {CONFIG_NAME} and {WEIGHTS_NAME} "
            "(gfx never downloads)"
        )
    return path


class PretrainedMixin:
    """`save_pretrained` / `from_pretrained` for a module built as `cls(config)`.

    The subclass sets `config_class` (a `ConfigMixin` dataclass) and stores its config as `self.config`.
    """

    config_class: ClassVar[type]
    config: Any

    def save_pretrained(
        self, directory: str | Path, *, dtype: torch.dtype | None = None, tokenizer: Any = None
    ) -> Path:
        """Write config.json + model.safetensors (+ tokenizer.json) into `directory`."""
        return save_pretrained(self, directory, config=self.config, tokenizer=tokenizer, dtype=dtype)

    @classmethod
    def from_pretrained(cls: type[M], directory: str | Path, *, device: str | torch.device = "cpu") -> M:
        """Build the model from `directory/config.json` and load its weights, in eval mode."""
        directory = Path(directory)
        config = cls.config_class.from_json(_require(directory, CONFIG_NAME))
        model = cls(config)
        load_weights(model, directory)
        log.info("loaded %s from %s", cls.__name__, directory)
        return model.to(device).eval()
