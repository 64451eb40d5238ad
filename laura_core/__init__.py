"""laura: the LauraGPT toolkit core.

The core defines interfaces, the task-prompt protocol, the plugin registry, scoring
and the CLI. It never imports the built-in tasks or plugins: they arrive through the
``laura`` entry-point group like any third-party package.
"""
from laura_core.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
