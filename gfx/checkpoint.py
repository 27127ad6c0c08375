"""A model is a directory (diffusers' layout): `config.json` + `model.safetensors` per component.

    model.save_pretrained("models/icon-tiny", dtype=torch.float16)   # fp16 storage, half the size
    model = Transformer.from_pretrained("models/icon-tiny")           # local only, never the network

A single model keeps `config.json` (with its class as `_class_name`) and `model.safetensors` at the top
of its directory. A pipeline of several components writes `model_index.json` at the top: its class, each
component's `[module, class]` and its own settings under "config"; every component has a folder of
that name (a model: config.json + model.safetensors; a tokenizer: tokenizer.json):

    iconshop-mini/model_index.json   {"_class_name": "IconShop", "model": ["gfx.backbones.transformer",
                                      "Transformer"], "tokenizer": [...], "config": {"grid": 97, ...}}
    iconshop-mini/model/config.json  {"_class_name": "Transformer", "d_model": 128, ...}
    iconshop-mini/tokenizer/tokenizer.json

`CLASSES` is the explicit registry of every class a directory may name. Directories saved before
model_index.json (`LEGACY_LAYOUTS`) still load, and `migrate` rewrites one in place by moving files, so
no weight changes. Tied weights (one tensor under several names) are stored once and restored as
aliases; floating tensors stored in a smaller dtype are cast back to the model's dtype on load.
"""

from __future__ import annotations

import importlib
import json
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from gfx.config import lookup

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_NAME = "tokenizer.json"
MODEL_INDEX_NAME = "model_index.json"
CLASS_KEY = "_class_name"
SETTINGS_KEY = "config"
LEGACY_SETTINGS_NAME = "pipeline.json"
"""Where a pipeline kept its own settings before model_index.json."""

CLASSES: dict[str, str] = {
    # pipelines
    "IconShop": "gfx.svg.iconshop",
    "SVGCraftLayout": "gfx.svg.svgcraft",
    "StarVector": "gfx.svg.starvector",
    "FullPart": "gfx.mesh.fullpart",
    "VATPipeline": "gfx.mesh.vat_generator",
    "ShapesDiffusionPipeline": "gfx.image.pipeline",
    "LLM4SVG": "gfx.svg.llm4svg",
    "HitaPipeline": "gfx.image.hita",  # joins PIPELINES once a hita-mini is shipped
    "XARPipeline": "gfx.image.xar",  # joins PIPELINES once an xar-mini is shipped
    # models
    "Transformer": "gfx.backbones.transformer",
    "CausalLM": "gfx.backbones.language",  # a transformers directory (config.json without _class_name)
    "StarVectorModel": "gfx.svg.starvector",
    "IconCLIP": "gfx.svg.icon_clip",
    "LayoutLM": "gfx.mesh.layout_lm",
    "PartField": "gfx.mesh.part_field",
    "VAT": "gfx.mesh.vat",
    "HitaTokenizer": "gfx.image.hita",
    "XAR": "gfx.image.xar",
    "WorldFeatureNet": "gfx.image.world_features",
    "VATGenerator": "gfx.mesh.vat_generator",
    "PointClassifier": "gfx.mesh.classify",
    "StyleTokenizer": "gfx.image.style_tokenizer",
    # tokenizers and indexes
    "PathTokenizer": "gfx.svg.tokenizers.path",
    "IconIndex": "gfx.svg.icon_retrieval",
    "SemanticTokenizer": "gfx.svg.tokenizers.semantic",
}
"""Class name (the `_class_name` of a config.json or model_index.json) -> the module that defines it."""

PIPELINES = ("IconShop", "StarVector", "FullPart", "VATPipeline", "SVGCraftLayout", "ShapesDiffusionPipeline",
             "LLM4SVG")
"""The entries of `CLASSES` that are multi-component pipelines (they write model_index.json)."""

LEGACY_LAYOUTS: dict[str, dict[str, tuple[str, str]]] = {
    "IconShop": {"model": ("Transformer", "."), "tokenizer": ("PathTokenizer", TOKENIZER_NAME)},
    "StarVector": {"model": ("StarVectorModel", "."), "tokenizer": ("PathTokenizer", TOKENIZER_NAME)},
    "VATPipeline": {"vat": ("VAT", "."), "generator": ("VATGenerator", "generator")},
}
"""How each pipeline laid out its directory before model_index.json: component -> (class, path inside
the directory, "." for the directory itself), the first one always present; its settings were in
pipeline.json where it had any."""

M = TypeVar("M", bound="PretrainedMixin")


def load_class(name: str) -> type:
    """The class `name` of `CLASSES`; KeyError lists the valid names."""
    module = lookup(CLASSES, name, "checkpoint class")
    return getattr(importlib.import_module(module), name)


def write_config(config: Any, path: Path, class_name: str) -> None:
    """Write a config dataclass (`to_dict()`) as JSON with its model's class under `_class_name`."""
    _write_json(path, {CLASS_KEY: class_name, **config.to_dict()})


def read_config(directory: str | Path, config_class: type, class_name: str) -> Any:
    """`directory/config.json` as `config_class`; ValueError if it names another class than `class_name`
    (a file without `_class_name`, saved before the field existed, is taken as `class_name`'s)."""
    data = _read_json(_require(Path(directory), CONFIG_NAME))
    saved = data.pop(CLASS_KEY, class_name)
    if saved != class_name:
        raise ValueError(
            f"{directory} holds a {saved}, not a {class_name}; load it with {saved}.from_pretrained"
        )
    return config_class.from_dict(data)


def saved_class(directory: str | Path) -> str | None:
    """The class a directory names (model_index.json, else config.json), or None for an old directory."""
    directory = Path(directory)
    for name in (MODEL_INDEX_NAME, CONFIG_NAME):
        if (directory / name).is_file():
            return _read_json(directory / name).get(CLASS_KEY)
    return None


def load_pretrained(directory: str | Path, **kwargs) -> Any:
    """Load whatever `directory` holds, by the class it names (`CLASSES`): a pipeline or a model."""
    name = saved_class(directory)
    if name is None:
        raise ValueError(
            f"{directory} names no class (no model_index.json or _class_name); "
            "load it with its class's from_pretrained, or run `migrate` on it"
        )
    return load_class(name).from_pretrained(directory, **kwargs)


def save_pretrained(
    model: torch.nn.Module,
    directory: str | Path,
    *,
    config: Any = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write `model`'s weights (and config, with the model's class name) into `directory`, creating it.

    Args:
        model: the module whose `state_dict()` is saved.
        directory: the checkpoint directory.
        config: a config dataclass (`to_dict()`); defaults to `model.config` when present.
        dtype: storage dtype for floating tensors (e.g. torch.float16 to halve the size); None keeps
            each tensor's own dtype.

    Returns:
        The directory path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = config if config is not None else getattr(model, "config", None)
    if config is not None:
        write_config(config, directory / CONFIG_NAME, type(model).__name__)
    tensors, aliases = _dedupe(model.state_dict())
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    metadata = {"format": "pt", "gfx_aliases": json.dumps(aliases)}
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in tensors.items()}, directory / WEIGHTS_NAME, metadata
    )
    return directory


def save_pipeline(
    directory: str | Path,
    pipeline: Any,
    components: Mapping[str, Any],
    settings: Any = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write a pipeline: one folder per component and model_index.json naming their classes.

    Args:
        directory: the pipeline directory (created).
        pipeline: the pipeline object (its class is recorded; it must be in `CLASSES`).
        components: name -> a model or an object with its own `save_pretrained(dir)` (an index, a
            transformers `CausalLM`), or a tokenizer (`save(path)`); None
            entries (an absent optional component) are skipped.
        settings: the pipeline's own config dataclass, stored under "config" in model_index.json.
        dtype: storage dtype of the models' floating tensors.
    """
    directory = Path(directory)
    index: dict[str, Any] = {CLASS_KEY: _registered(type(pipeline))}
    for name, component in components.items():
        if component is None:
            continue
        index[name] = [CLASSES[_registered(type(component))], type(component).__name__]
        if isinstance(component, PretrainedMixin) or (
            isinstance(component, torch.nn.Module) and not hasattr(component, "save_pretrained")
        ):
            save_pretrained(component, directory / name, dtype=dtype)
        elif hasattr(component, "save_pretrained"):  # its own file layout (an index, a transformers `CausalLM`)
            component.save_pretrained(directory / name)
        else:
            (directory / name).mkdir(parents=True, exist_ok=True)
            component.save(directory / name / TOKENIZER_NAME)
    if settings is not None:
        index[SETTINGS_KEY] = settings.to_dict()
    _write_json(directory / MODEL_INDEX_NAME, index)
    return directory


@dataclass(frozen=True)
class PipelineFiles:
    """Where a pipeline directory keeps each component, and the pipeline's settings.

    Attributes:
        directory: the pipeline directory.
        components: name -> (class name, path: a model's directory or a tokenizer's file).
        settings: the pipeline's own config as a dict (empty when it saved none).
    """

    directory: Path
    components: dict[str, tuple[str, Path]]
    settings: dict[str, Any]

    def path(self, name: str, class_name: str) -> Path:
        """The path of component `name`, checked to be a `class_name`."""
        if name not in self.components:
            raise FileNotFoundError(
                f"{self.directory} has no {name!r} component; it has {', '.join(self.components) or 'none'}"
            )
        saved, path = self.components[name]
        if saved != class_name:
            raise ValueError(f"{self.directory}: component {name!r} is a {saved}, expected a {class_name}")
        return path

    def optional_path(self, name: str, class_name: str) -> Path | None:
        """`path(name, class_name)`, or None when the pipeline was saved without that component."""
        return self.path(name, class_name) if name in self.components else None


def read_pipeline(directory: str | Path, class_name: str, recipe: str = "RECIPE") -> PipelineFiles:
    """The components and settings of a `class_name` pipeline directory, new layout or old; `recipe` is
    the `gfx train` recipe that makes one (for the error message).

    Raises:
        FileNotFoundError: the directory is neither; ValueError: it holds another pipeline.
    """
    directory = Path(directory)
    index_path = directory / MODEL_INDEX_NAME
    if index_path.is_file():
        index = _read_json(index_path)
        saved = index.pop(CLASS_KEY, None)
        if saved != class_name:
            raise ValueError(
                f"{directory} holds a {saved}, not a {class_name}; load it with {saved}.from_pretrained"
            )
        settings = index.pop(SETTINGS_KEY, {})
        components = {name: (entry[1], _component_path(directory / name)) for name, entry in index.items()}
        return PipelineFiles(directory, components, settings)
    layout = lookup(LEGACY_LAYOUTS, class_name, "pipeline")
    components = {
        name: (cls, directory / rel) for name, (cls, rel) in layout.items() if _is_component(directory / rel)
    }
    if next(iter(layout)) not in components:  # the first component marks the layout; the others may be absent
        raise FileNotFoundError(
            f"{directory} holds no {class_name} pipeline (no {MODEL_INDEX_NAME}); train one with "
            f"`gfx train {recipe}` or pass a directory {class_name}.save_pretrained wrote"
        )
    settings_path = directory / LEGACY_SETTINGS_NAME
    return PipelineFiles(directory, components, _read_json(settings_path) if settings_path.is_file() else {})


def component_directory(directory: str | Path, class_name: str) -> Path:
    """The directory of a `class_name` model: `directory` itself, or, for a pipeline directory, the
    folder of its one component of that class (ValueError when it has none or several)."""
    directory = Path(directory)
    if (directory / CONFIG_NAME).is_file() or not (directory / MODEL_INDEX_NAME).is_file():
        return directory
    index = _read_json(directory / MODEL_INDEX_NAME)
    found = [name for name, entry in index.items() if isinstance(entry, list) and entry[1:] == [class_name]]
    if len(found) != 1:
        raise ValueError(
            f"{directory} is a {index.get(CLASS_KEY)} pipeline with {len(found)} {class_name} "
            f"components; pass the component's folder ({', '.join(found) or 'none'})"
        )
    return directory / found[0]


def migrate(directory: str | Path, class_name: str | None = None) -> Path:
    """Rewrite a directory saved before model_index.json into the current layout, in place.

    Files are moved, not re-saved, so every weight file stays byte-identical. The pipeline is loaded
    once first (its settings, including defaults the old layout lacked, go into model_index.json).

    Args:
        directory: the old directory.
        class_name: its pipeline or model class; default guessed from the layout (`legacy_class`).

    Returns:
        The directory.
    """
    directory = Path(directory)
    if (directory / MODEL_INDEX_NAME).is_file():
        log.info("%s is already in the current layout", directory)
        return directory
    class_name = class_name or legacy_class(directory)
    lookup(CLASSES, class_name, "checkpoint class")
    if class_name not in PIPELINES:
        _add_class_name(directory / CONFIG_NAME, class_name)
        return directory
    pipeline = load_class(class_name).from_pretrained(directory)
    files = read_pipeline(directory, class_name)
    index: dict[str, Any] = {CLASS_KEY: class_name}
    for name, (component_class, path) in files.components.items():
        target = directory / name
        if path == directory:
            target.mkdir()
            for file in (CONFIG_NAME, WEIGHTS_NAME):
                shutil.move(directory / file, target / file)
        elif path.is_file():
            target.mkdir()
            shutil.move(path, target / path.name)
        elif path != target:
            shutil.move(path, target)
        if (target / CONFIG_NAME).is_file():
            _add_class_name(target / CONFIG_NAME, component_class)
        index[name] = [CLASSES[component_class], component_class]
    if getattr(pipeline, "config", None) is not None:
        index[SETTINGS_KEY] = pipeline.config.to_dict()
    _write_json(directory / MODEL_INDEX_NAME, index)
    (directory / LEGACY_SETTINGS_NAME).unlink(missing_ok=True)
    log.info("migrated %s (%s) to the model_index.json layout", directory, class_name)
    return directory


def directory_class(directory: str | Path) -> str | None:
    """The class a checkpoint directory holds: the one its model_index.json names, else the one its
    (possibly old) layout shows (`legacy_class`); None when it is no checkpoint gfx can tell."""
    directory = Path(directory)
    if (directory / MODEL_INDEX_NAME).is_file():
        return saved_class(directory)
    try:
        return legacy_class(directory)
    except (ValueError, OSError):
        return None


def legacy_class(directory: str | Path) -> str:
    """The class an old directory holds, from its layout (or its config.json's `_class_name`); ValueError
    when neither tells."""
    directory = Path(directory)
    if (directory / "generator").is_dir():
        return "VATPipeline"
    if (directory / LEGACY_SETTINGS_NAME).is_file():
        return "StarVector" if "encoder" in _read_json(directory / CONFIG_NAME) else "IconShop"
    if saved_class(directory) is not None:
        return saved_class(directory)
    raise ValueError(
        f"cannot tell which class {directory} holds; pass it (one of {', '.join(sorted(CLASSES))})"
    )


def _registered(cls: type) -> str:
    lookup(CLASSES, cls.__name__, "checkpoint class (add it to gfx.checkpoint.CLASSES)")
    return cls.__name__


def _is_component(path: Path) -> bool:
    return path.is_file() or (path / CONFIG_NAME).is_file()


def _component_path(folder: Path) -> Path:
    """A component folder, or the tokenizer file inside a tokenizer's folder (a model's has config.json)."""
    is_tokenizer = (folder / TOKENIZER_NAME).is_file() and not (folder / CONFIG_NAME).is_file()
    return folder / TOKENIZER_NAME if is_tokenizer else folder


def _add_class_name(path: Path, class_name: str) -> None:
    _write_json(path, {CLASS_KEY: class_name, **_read_json(path)})


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


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


def load_weights(
    model: torch.nn.Module, directory: str | Path, new_modules: tuple[str, ...] = ()
) -> torch.nn.Module:
    """Load `directory/model.safetensors` into `model` (strict), casting to the model's dtypes.

    `directory` may also be a pipeline directory with one component of the model's class (a warm start
    from a shipped pipeline). `new_modules`: name prefixes of entries the file may lack (modules added since it was saved keep
    their initialization; a warm start).
    """
    path = _require(component_directory(directory, type(model).__name__), WEIGHTS_NAME)
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

    def save_pretrained(self, directory: str | Path, *, dtype: torch.dtype | None = None) -> Path:
        """Write config.json (with `_class_name`) + model.safetensors into `directory`."""
        return save_pretrained(self, directory, config=self.config, dtype=dtype)

    @classmethod
    def from_pretrained(cls: type[M], directory: str | Path, *, device: str | torch.device = "cpu") -> M:
        """Build the model from `directory/config.json` and load its weights, in eval mode.

        `directory` may also be a pipeline directory with one component of this class."""
        directory = component_directory(directory, cls.__name__)
        config = read_config(directory, cls.config_class, cls.__name__)
        model = cls(config)
        load_weights(model, directory)
        log.info("loaded %s from %s", cls.__name__, directory)
        return model.to(device).eval()
