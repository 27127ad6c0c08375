"""Configs as dataclasses of plain values: JSON round trip, named presets, explicit registries.

Every model config in gfx is a `@dataclass` that inherits `ConfigMixin`:

    @dataclass
    class TransformerConfig(ConfigMixin):
        PRESETS: ClassVar[dict[str, dict]] = {"tiny": dict(n_layer=2, d_model=32)}
        n_layer: int = 6
        d_model: int = 256

    config = TransformerConfig.from_name("tiny", vocab_size=301)
    text = config.to_json()
    assert TransformerConfig.from_json(text) == config

Fields hold plain values only (bool, int, float, str, None, tuples/lists/dicts of those, or nested
config dataclasses). Unknown keys are rejected with an error that lists them, so a typo in a
config.json never passes silently.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")
C = TypeVar("C", bound="ConfigMixin")


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    """Return `registry[name]`, or raise KeyError naming the valid choices.

    Args:
        registry: an explicit name -> entry dict (presets, model classes, exporters, ...).
        name: the requested key.
        what: what the entries are, for the message ("preset", "sampler", ...).
    """
    try:
        return registry[name]
    except KeyError:
        valid = ", ".join(sorted(registry)) or "(none)"
        raise KeyError(f"unknown {what} {name!r}; valid names: {valid}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass instance as a JSON-ready dict (nested dataclasses become dicts, tuples lists)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a dataclass instance, got {type(config).__name__}")
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build dataclass `cls` from a dict, rejecting unknown keys and rebuilding nested configs.

    Lists become tuples where the field is annotated as a tuple; nested dataclass fields are built
    recursively from dicts.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"{cls.__name__} expects a JSON object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(
            f"{cls.__name__} got unknown keys {unknown}; valid keys: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints.get(name), value) for name, value in data.items()}
    return cls(**kwargs)


def _coerce(annotation: Any, value: Any) -> Any:
    """Turn a JSON value back into the annotated field type (nested dataclass, tuple)."""
    if annotation is None or value is None:
        return value
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None) and (dataclasses.is_dataclass(arg) or typing.get_origin(arg) is tuple):
                return _coerce(arg, value)
        return value
    if dataclasses.is_dataclass(annotation) and isinstance(value, Mapping):
        return config_from_dict(annotation, value)
    if (annotation is tuple or origin is tuple) and isinstance(value, list):
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        if args and len(args) == len(value):
            return tuple(_coerce(a, v) for a, v in zip(args, value, strict=True))
        return tuple(value)
    return value


class ConfigMixin:
    """JSON round trip, overrides and named presets for a config dataclass.

    Subclasses are `@dataclass`es and may define `PRESETS: ClassVar[dict[str, dict]]`, a plain
    name -> field-overrides dict (a `tiny` preset is expected for tests).
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build from a dict; unknown keys raise ValueError listing them."""
        return config_from_dict(cls, data)

    def to_json(self, path: str | Path | None = None) -> str:
        """The config as indented JSON text, also written to `path` when given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls: type[C], source: str | Path) -> C:
        """Build from JSON text or from the path of a .json file."""
        text = str(source)
        if isinstance(source, Path) or not text.lstrip().startswith("{"):
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such config file")
            text = path.read_text()
        return cls.from_dict(json.loads(text))

    def replace(self: C, **overrides: Any) -> C:
        """A copy with some fields changed; unknown field names raise ValueError."""
        return self.from_dict({**self.to_dict(), **_plain(overrides)})

    @classmethod
    def from_name(cls: type[C], name: str, **overrides: Any) -> C:
        """A named preset, with field overrides: `TransformerConfig.from_name("tiny", vocab_size=301)`."""
        preset = lookup(cls.PRESETS, name, f"{cls.__name__} preset")
        return cls.from_dict({**preset, **_plain(overrides)})


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """Dataclass values inside overrides as dicts, so `from_dict` rebuilds them uniformly."""
    return {
        k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v
        for k, v in values.items()
    }
