"""Hook specifications of the ``laura`` plugin system.

A plugin is any module (or object) listed under the ``laura`` entry-point group that
implements some of these hooks with ``@laura_core.hookimpl``. Registration goes
through a ``register`` callback so the core can validate every entry and name the
plugin that made it.
"""
import pluggy

PROJECT = "laura"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_tasks(register):
    """Register tasks: call ``register(task)`` with an instance of a ``laura_core.task.Task`` subclass."""


@hookspec
def register_components(register):
    """Register components: call ``register(kind, name, factory, description="", config=None, sizes=None)``.

    ``kind`` is one of ``laura_core.registry.COMPONENT_KINDS``. With ``config`` (a dataclass),
    ``registry.create(kind, name, **options)`` checks ``options`` against it (unknown keys and wrong
    types are errors naming the key) and calls ``factory(config_instance)``; without, it calls
    ``factory(**options)``. ``sizes`` names presets of options (``{"tiny": {...}, "paper": {...}}``):
    ``registry.create(kind, name, size="tiny", **options)`` starts from the preset, ``options`` override it.
    """
