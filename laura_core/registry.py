"""The plugin registry: tasks and components, each traced back to the plugin that registered it.

Built-in tasks and components load through the ``laura`` entry-point group exactly like a
third-party package's. Every registration is validated here; a name registered twice is an
error naming both sources.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable

import pluggy

from laura_core import hookspecs
from laura_core.errors import RegistryError

# Component kinds the core has interfaces for. A kind outside this list is a typo, not a feature.
COMPONENT_KINDS = {
    "encoder": "audio encoder: waveform or features -> embeddings of the GPT width",
    "backbone": "GPT backbone: input embeddings -> hidden states, with a KV cache",
    "tokenizer": "text tokenizer",
    "codec": "audio codec: waveform <-> residual-quantizer codes",
    "vocoder": "codec vocoder: first-group codes (+ conditions) -> waveform",
    "judge": "ASR judge: transcribes generated audio for TTS scoring",
    "speaker_judge": "speaker-embedding judge: whose voice generated audio has (TTS similarity)",
    "quality_judge": "non-intrusive quality judge: a MOS estimate of audio without a reference",
    "metric": "extra metrics for a registered task, scored by `laura score` beside the task's own",
    "preparer": "corpus preparer: turns a corpus on disk into laura manifests (`laura prepare NAME`)",
}

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Registration:
    kind: str  # "task" or a component kind
    name: str
    obj: Any  # a Task instance, or a component factory
    source: str  # the plugin (entry point or module) that registered it
    distribution: str  # "name version" of the package that provides the plugin, or "-"
    description: str = ""
    config: type | None = None  # dataclass of the component's options
    sizes: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # named option presets

    @property
    def origin(self) -> str:
        return f"{self.source} ({self.distribution})"


@dataclass(frozen=True)
class BrokenPlugin:
    """An installed plugin whose import failed: left out, and listed by `laura plugins`."""

    name: str  # the entry point
    value: str  # what it points at (module:attribute)
    distribution: str  # "name version" of its package
    error: str  # the exception's type and the last line of its message

    def __str__(self) -> str:
        return f"{self.name} = {self.value} of package {self.distribution}"


class Registry:
    """Holds every task and component registered by ``laura`` plugins.

    ``Registry()`` loads all installed plugins from entry points. Tests build
    ``Registry(autoload=False)`` and ``add_plugin`` their own.
    """

    def __init__(self, autoload: bool = True):
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._dists: dict[int, str] = {}  # id(plugin) -> "name version" of its package
        self.broken: list[BrokenPlugin] = []  # plugins that failed to import
        if autoload:
            self._load_entry_points()
        self._entries: dict[tuple[str, str], Registration] | None = None

    def _load_entry_points(self) -> None:
        """Import every plugin of the ``laura`` entry-point group on its own: one that fails to import
        is reported (its entry point, package and error) and left out, and every other still loads."""
        from importlib.metadata import entry_points

        for ep in entry_points(group=hookspecs.PROJECT):
            if self._pm.get_plugin(ep.name) is not None or self._pm.is_blocked(ep.name):
                continue
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "-"
            try:
                plugin = ep.load()
            except Exception as e:  # whatever a third-party import raises
                last = (str(e).strip().splitlines() or [""])[-1]
                broken = BrokenPlugin(ep.name, ep.value, dist, f"{type(e).__name__}: {last}")
                self.broken.append(broken)
                _warn_once(f"laura: warning: plugin {broken} failed to import ({broken.error}); its tasks and "
                           f"components are unavailable")
                continue
            self._pm.register(plugin, name=ep.name)
            self._dists[id(plugin)] = dist

    def add_plugin(self, plugin: Any, name: str | None = None) -> None:
        self._pm.register(plugin, name=name)
        self._entries = None

    # -- collection -------------------------------------------------------------------------

    def _distributions(self) -> dict[int, str]:
        return self._dists

    def _call(self, impl, register: Callable, dist: str) -> None:
        """Run one plugin's registration hook; what it raises names the plugin and its package."""
        try:
            impl.function(register=register)
        except RegistryError:
            raise
        except Exception as e:  # a third-party hook's own bug
            raise RegistryError(f"plugin {impl.plugin_name} ({dist}) failed while registering: "
                                f"{type(e).__name__}: {e}") from e

    def _collect(self) -> dict[tuple[str, str], Registration]:
        if self._entries is not None:
            return self._entries
        from laura_core.task import Task  # the registry validates tasks against the protocol

        entries: dict[tuple[str, str], Registration] = {}
        dists = self._distributions()

        def add(reg: Registration) -> None:
            key = (reg.kind if reg.kind == "task" else "component:" + reg.kind, reg.name)
            if key in entries:
                raise RegistryError(
                    f"{reg.kind} {reg.name!r} is registered twice: by {entries[key].origin} "
                    f"and by {reg.origin}"
                )
            entries[key] = reg

        # Each plugin's hook is called on its own so every registration knows its source.
        for impl in self._pm.hook.register_tasks.get_hookimpls():
            source, dist = impl.plugin_name, dists.get(id(impl.plugin), "-")

            def register_task(task: Any, _source=source, _dist=dist) -> None:
                if not isinstance(task, Task):
                    raise RegistryError(f"plugin {_source} registered {task!r}, which is not a laura_core.task.Task")
                task.validate()
                add(Registration("task", task.name, task, _source, _dist, task.description))

            self._call(impl, register_task, dist)

        for impl in self._pm.hook.register_components.get_hookimpls():
            source, dist = impl.plugin_name, dists.get(id(impl.plugin), "-")

            def register_component(
                kind: str, name: str, factory: Callable[..., Any], description: str = "", config: type | None = None,
                sizes: dict[str, dict[str, Any]] | None = None, _source=source, _dist=dist,
            ) -> None:
                if kind not in COMPONENT_KINDS:
                    raise RegistryError(
                        f"plugin {_source} registered a component of unknown kind {kind!r}; "
                        f"kinds are {', '.join(sorted(COMPONENT_KINDS))}"
                    )
                if not _NAME.match(name):
                    raise RegistryError(f"plugin {_source}: component name {name!r} must match {_NAME.pattern}")
                if not callable(factory):
                    raise RegistryError(f"plugin {_source}: factory for {kind} {name!r} is not callable")
                if config is not None and not dataclasses.is_dataclass(config):
                    raise RegistryError(f"plugin {_source}: config of {kind} {name!r} must be a dataclass")
                add(Registration(kind, name, factory, _source, _dist, description, config, dict(sizes or {})))

            self._call(impl, register_component, dist)

        prompt_owner: dict[str, Registration] = {}
        for reg in entries.values():
            if reg.kind == "task":
                token = reg.obj.prompt_token
                if token in prompt_owner:
                    raise RegistryError(
                        f"prompt token {token!r} is used by task {prompt_owner[token].name!r} "
                        f"({prompt_owner[token].origin}) and task {reg.name!r} ({reg.origin})"
                    )
                prompt_owner[token] = reg
        self._entries = entries
        return entries

    # -- queries ----------------------------------------------------------------------------

    def entries(self) -> list[Registration]:
        """Every registration, tasks first, each group sorted by name."""
        return sorted(self._collect().values(), key=lambda r: (r.kind != "task", r.kind, r.name))

    def tasks(self) -> dict[str, Any]:
        return {r.name: r.obj for r in self.entries() if r.kind == "task"}

    def task(self, name: str):
        tasks = self.tasks()
        if name not in tasks:
            raise RegistryError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(tasks)) or 'none'}"
                                + self.broken_note())
        return tasks[name]

    def components(self, kind: str) -> dict[str, Registration]:
        if kind not in COMPONENT_KINDS:
            raise RegistryError(f"unknown component kind {kind!r}; kinds are {', '.join(sorted(COMPONENT_KINDS))}")
        return {r.name: r for r in self.entries() if r.kind == kind}

    def component(self, kind: str, name: str) -> Registration:
        found = self.components(kind)
        if name not in found:
            raise RegistryError(f"unknown {kind} {name!r}; registered: {', '.join(sorted(found)) or 'none'}"
                                + self.broken_note())
        return found[name]

    def broken_note(self) -> str:
        return (f" (plugins that failed to import: {'; '.join(f'{b} ({b.error})' for b in self.broken)})"
                if self.broken else "")

    def component_options(self, kind: str, name: str, size: str = "", **options: Any) -> dict[str, Any]:
        """``options`` on top of the named ``size`` preset of ``kind``/``name`` ("" = none)."""
        reg = self.component(kind, name)
        if not size:
            return options
        if size not in reg.sizes:
            raise RegistryError(f"{kind} {name!r} has no size {size!r}; sizes: {', '.join(reg.sizes) or 'none'}")
        return {**reg.sizes[size], **options}

    def component_config(self, kind: str, name: str, size: str = "", **options: Any) -> Any:
        """The typed config of ``kind``/``name`` built from a ``size`` preset and ``options`` (errors name the key)."""
        reg = self.component(kind, name)
        if reg.config is None:
            raise RegistryError(f"{kind} {name!r} has no typed config")
        from laura_core.config import load_config

        return load_config(reg.config, values=self.component_options(kind, name, size, **options))

    def create(self, kind: str, name: str, size: str = "", **options: Any) -> Any:
        """Build the component registered as ``kind``/``name`` from a ``size`` preset and ``options``."""
        reg = self.component(kind, name)
        if reg.config is None:
            return reg.obj(**self.component_options(kind, name, size, **options))
        return reg.obj(self.component_config(kind, name, size, **options))


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        print(message, file=sys.stderr)


@functools.lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry of installed plugins."""
    return Registry()
