"""The model: LauraGPT (its sequence layout, vocabulary and decoding), codec directories, and synthesis
from codec tokens through a vocoder."""
