"""Registries: one way to name a component in YAML and build it.

Every kind of component a configuration names (encoders, tasks, loss weightings, feature
extractors, input transforms, optimisers, learning-rate schedules, corpora) lives in a
:class:`Registry`. Names are unique (a second registration under a taken name is a bug and
raises), an unknown name is a one-line :class:`~sertool.errors.SertoolError` listing the known
ones, and building with wrong arguments says which component refused them.

One YAML convention names a component and its arguments: a mapping with the registry name under
``name`` and the arguments beside it (``weighting: {name: gradnorm, alpha: 1.5}``, ``scheduler:
{name: cosine, warmup_epochs: 2}``, ``transform: {name: onehot, column: 3, classes: 257}``), built
by :meth:`Registry.build_spec`. Two keys keep the form the design card fixes: a task's type is
``type`` (its name is its key under ``tasks``), and the encoder is ESPnet's pair ``encoder: NAME``
+ ``encoder_conf: {...}``.

A name of the form ``package.module:Attribute`` (or ``path/to/file.py:Attribute``) imports that
module first, so a new component can live in its own file and be named from YAML alone; the
module's registration decorator then runs as usual.

Example:
    >>> shapes = Registry("shape")
    >>> @shapes.register("square")
    ... class Square:
    ...     def __init__(self, side: float = 1.0):
    ...         self.area = side * side
    >>> shapes.build("square", {"side": 3.0}).area
    9.0
    >>> shapes.names()
    ['square']
    >>> shapes.get("circle")
    Traceback (most recent call last):
    ...
    sertool.errors.SertoolError: unknown shape 'circle' (known: square)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from sertool.errors import SertoolError

T = TypeVar("T")


def import_plugin(spec: str) -> Any:
    """The attribute named by ``"package.module:Attr"`` or ``"path/file.py:Attr"``, importing its module."""
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise SertoolError(f"{spec!r} is not of the form module:Attribute")
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
        if not path.is_file():
            raise SertoolError(f"plugin file not found: {path}")
        key = f"sertool_plugin_{path.stem}_{abs(hash(str(path)))}"
        module = sys.modules.get(key)
        if module is None:
            loader_spec = importlib.util.spec_from_file_location(key, path)
            module = importlib.util.module_from_spec(loader_spec)  # type: ignore[arg-type]
            sys.modules[key] = module
            loader_spec.loader.exec_module(module)  # type: ignore[union-attr]
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise SertoolError(f"cannot import {module_name!r} for {spec!r}: {e}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SertoolError(f"{module_name} has no attribute {attr!r}") from None


class Registry(Generic[T]):
    """Components of one kind by name (see the module docstring)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding a class (or factory function) under ``name``."""

        def add(obj: T) -> T:
            self.add(name, obj)
            return obj

        return add

    def add(self, name: str, obj: T) -> None:
        if name in self._items and self._items[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._items[name] = obj

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """The component registered as ``name`` (a ``module:Attr`` name imports it first)."""
        if name not in self._items and ":" in name:
            obj = import_plugin(name)
            self._items.setdefault(name, obj)
        if name not in self._items:
            raise SertoolError(f"unknown {self.kind} {name!r} (known: {', '.join(self.names())})")
        return self._items[name]

    def build_spec(self, spec: Mapping[str, Any], *args: Any, default: str | None = None, **kwargs: Any) -> Any:
        """Build from a YAML mapping ``{name: NAME, **arguments}`` (``default`` when ``name`` is absent).

        Example:
            >>> reg = Registry("greeting")
            >>> reg.add("hello", lambda who="world", punct="!": f"hello {who}{punct}")
            >>> reg.build_spec({"name": "hello", "who": "you"})
            'hello you!'
        """
        conf = dict(spec)
        name = conf.pop("name", default)
        if name is None:
            raise SertoolError(f"{self.kind}: no name given in {dict(spec)} (known: {', '.join(self.names())})")
        return self.build(name, conf, *args, **kwargs)

    def build(self, name: str, conf: Mapping[str, Any] | None = None, *args: Any, **kwargs: Any) -> Any:
        """Call the component ``name`` with positional ``args``, then ``conf`` and ``kwargs`` as keywords."""
        factory = self.get(name)
        try:
            return factory(*args, **{**(conf or {}), **kwargs})  # type: ignore[operator]
        except TypeError as e:
            raise SertoolError(f"bad arguments for {self.kind} {name!r}: {e}") from None
