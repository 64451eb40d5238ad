# The small training setup of the core tests (asr, mt and tts cuts, tiny model, tiny codec) and its vocoder.
from tests.core.conftest import manifests, setup, vocoder_dir  # noqa: F401
