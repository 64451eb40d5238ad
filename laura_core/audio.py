"""Audio files for scoring, data and outputs: soundfile for I/O, torchaudio for resampling."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from laura_core.errors import DataError


def read_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read ``path`` as mono float32 in [-1, 1]; resample to ``sample_rate`` when given.

    Multi-channel audio is averaged to mono. Errors name the file.
    """
    import soundfile as sf

    try:
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types for missing/corrupt files
        raise DataError(f"{path}: cannot read audio ({e})") from None
    wav = wav.mean(axis=1)
    if sample_rate is not None and sr != sample_rate:
        import torch
        import torchaudio.functional as AF

        wav = AF.resample(torch.from_numpy(wav), sr, sample_rate).numpy()
        sr = sample_rate
    return np.ascontiguousarray(wav, dtype=np.float32), sr


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write mono ``samples`` as a 32-bit float WAV (no clipping, no quantisation), atomically."""
    import io

    import soundfile as sf

    from laura_core.io import atomic_write_bytes

    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format="WAV", subtype="FLOAT")
    return atomic_write_bytes(path, buffer.getvalue())


def pad_waves(waves, length: int | None = None):
    """Waveforms ``[S_b]`` (tensors or arrays) -> a zero-padded batch ``[B, 1, S]`` (S = ``length`` or the
    longest) and their lengths ``[B]``."""
    import torch

    lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
    out = torch.zeros(len(waves), 1, length or int(lengths.max()))
    for b, w in enumerate(waves):
        out[b, 0, :len(w)] = torch.as_tensor(w)
    return out, lengths
