"""The mini corpus: all eight tasks with train/dev/test splits, built only from what Debian (main) and
PyPI packages install: real speech (Asterisk prompts, Fish Fillets dialogue), parallel text (Bible,
Fish Fillets), synthetic speech (espeak-ng, flite) and sounds (Minetest, freedesktop, Sonic Pi).
Deterministic for a seed; sizes in ``MiniConfig``. The default data of every recipe and of the demo."""
from laura_core import hookimpl
from laura_plugins.preparers.mini.config import MiniConfig
from laura_plugins.preparers.mini.corpus import MiniCorpus

__all__ = ["MiniConfig", "MiniCorpus"]


@hookimpl
def register_components(register):
    register("preparer", "mini", MiniCorpus, "all eight tasks from installed Debian and PyPI packages (no source)",
             config=MiniConfig)
