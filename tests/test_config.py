"""Config dataclasses: JSON round trip, unknown keys rejected, presets and registries."""

from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from gfx.config import ConfigMixin, config_from_dict, lookup


@dataclass
class Inner(ConfigMixin):
    bins: int = 8
    axes: tuple[str, ...] = ("x", "y")


@dataclass
class Outer(ConfigMixin):
    PRESETS: ClassVar[dict[str, dict]] = {"tiny": dict(width=4, inner=dict(bins=2))}

    width: int = 16
    rate: float = 0.5
    name: str | None = None
    sizes: tuple[int, int] = (3, 4)
    inner: Inner = field(default_factory=Inner)


def test_json_round_trip_rebuilds_tuples_and_nested_configs(tmp_path):
    config = Outer(width=7, name="a", sizes=(1, 2), inner=Inner(bins=3, axes=("x",)))
    assert Outer.from_json(config.to_json()) == config
    config.to_json(tmp_path / "config.json")
    loaded = Outer.from_json(tmp_path / "config.json")
    assert loaded == config and isinstance(loaded.sizes, tuple) and isinstance(loaded.inner, Inner)


def test_unknown_keys_are_rejected_with_their_names():
    with pytest.raises(ValueError, match=r"unknown keys \['colour', 'widht'\]"):
        Outer.from_dict({"widht": 3, "colour": 1})
    with pytest.raises(ValueError, match=r"unknown keys \['nope'\]"):
        Outer.from_dict({"inner": {"nope": 1}})


def test_presets_with_overrides_and_unknown_preset_lists_valid_names():
    config = Outer.from_name("tiny", rate=0.25)
    assert (config.width, config.rate, config.inner.bins) == (4, 0.25, 2)
    with pytest.raises(KeyError, match="valid names: tiny"):
        Outer.from_name("huge")
    with pytest.raises(ValueError, match="unknown keys"):
        Outer.from_name("tiny", depth=3)


def test_replace_and_lookup():
    assert Outer().replace(width=2).width == 2
    assert lookup({"a": 1, "b": 2}, "b", "thing") == 2
    with pytest.raises(KeyError, match="unknown sampler 'c'; valid names: a, b"):
        lookup({"b": 2, "a": 1}, "c", "sampler")


def test_config_from_dict_works_on_plain_dataclasses():
    @dataclass
    class Plain:
        n: int = 1

    assert config_from_dict(Plain, {"n": 5}) == Plain(5)
    with pytest.raises(FileNotFoundError, match="no such config file"):
        Outer.from_json("missing.json")
