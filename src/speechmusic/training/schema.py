"""Dataclasses from plain mappings, strictly: unknown keys and wrong types are :class:`ConfigError`
naming the dotted key (``training.lr: unknown key; valid keys: ...``)."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, TypeVar, Union

from speechmusic.errors import ConfigError

__all__ = ["from_dict", "to_dict"]

T = TypeVar("T")
# A number in exponent notation without a dot (`1e-4`, `+3E2`), which YAML 1.1 leaves a string.
_EXPONENT_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f"{path or 'config'}: {message}")


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, path)
            except ConfigError as exc:
                errors.append(str(exc))
        if errors:
            raise ConfigError(errors[0])
        raise _fail(path, f"invalid value {value!r}")
    if value is None:
        raise _fail(path, f"must not be null (expected {getattr(tp, '__name__', tp)})")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path=path)
    if origin is typing.Literal:
        if value not in args:
            raise _fail(path, f"must be one of {list(args)}, got {value!r}")
        return value
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _fail(path, f"must be a list, got {type(value).__name__} {value!r}")
        item = args[0] if args else Any
        return [_convert(v, item, f"{path}.{i}") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _fail(path, f"must be a mapping, got {type(value).__name__} {value!r}")
        kt, vt = args if args else (Any, Any)
        return {_convert(k, kt, path): _convert(v, vt, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(path, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise _fail(path, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
            # YAML 1.1 (PyYAML) reads `1e-4` and `1.0e4` as strings (it wants `1.0e-4`).
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, f"must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # YAML reads `name: 3class` fine, but `name: 5` as a number
        if not isinstance(value, str):
            raise _fail(path, f"must be a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Any, *, path: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, recursively, rejecting unknown keys."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise _fail(path, f"must be a mapping, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            where = f"{path}.{key}" if path else str(key)
            raise ConfigError(f"{where}: unknown key; valid keys here: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        where = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], where)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: required key is missing")
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise _fail(path, str(exc)) from None


def to_dict(obj: Any) -> Any:
    """A dataclass (tree) as plain dicts and lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj
