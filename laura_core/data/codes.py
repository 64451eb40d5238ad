"""``laura codec encode`` / ``decode``: audio -> codec codes -> audio, for manifests and wav directories.

    manifest -> manifest     each cut's target audio (``--field``: audio, or clean for se) is encoded;
                             the cut gets ``codes`` (first group, what the LM predicts) and ``codec``
                             (the codec's identity) in its custom fields
    wav dir  -> codes dir    every *.wav (recursively) -> <same relative path>.npy, all groups ``[n_q, T]``
    codes dir -> wav dir     every *.npy -> <same relative path>.wav at the codec's rate

Encoding batches items of similar length, padded with silence, and passes their lengths:
``laura_codec`` gives each item the codes it gets alone (its encoder zeroes every layer's output past
an item's end, as an item alone is padded, and its LSTM runs forwards; EnCodec does for items of at
least 7 frames). Decoding batches only codes of the same length. Every output is
written atomically; an interrupted run resumes: finished files are kept, and a manifest's finished
cuts are kept in ``DST.partial.jsonl`` until the manifest is complete.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from laura_core.audio import pad_waves, read_audio, write_wav
from laura_core.errors import ConfigError, DataError
from laura_core.interfaces import Codec
from laura_core.io import atomic_write_bytes, read_partial_jsonl, write_json
from laura_core.manifest import CODEC, CODES, field_recording, read_cuts

IDENTITY_FILE = "codec.json"  # in a codes directory: which codec made them


def batches_by_length(lengths: dict[str, int], max_samples: int) -> Iterator[list[str]]:
    """Keys in order of length, grouped so a batch's padded size (count x longest) stays under
    ``max_samples`` (a longer item goes alone)."""
    batch: list[str] = []
    for key in sorted(lengths, key=lambda k: (lengths[k], k)):
        if batch and (len(batch) + 1) * lengths[key] > max_samples:
            yield batch
            batch = []
        batch.append(key)
    if batch:
        yield batch


@torch.no_grad()
def encode_waves(codec: Codec, waves: Sequence[np.ndarray], device: str = "cpu") -> list[np.ndarray]:
    """Waveforms at the codec's rate -> codes ``[n_q, T]`` each (T = the codec's frames for its length)."""
    batch, lengths = pad_waves(waves)
    codes = codec.encode(batch.to(device), lengths=lengths.to(device)).cpu()
    return [codes[b, :, :codec.frames(len(w))].numpy() for b, w in enumerate(waves)]


@torch.no_grad()
def decode_codes(codec: Codec, codes: Sequence[np.ndarray], device: str = "cpu") -> list[np.ndarray]:
    """Codes ``[n, T]`` each -> waveforms of ``T * hop_length`` samples. Decoders look ahead, so
    only codes of the same length share a batch: padding would change the end of the audio."""
    out: list[np.ndarray | None] = [None] * len(codes)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, c in enumerate(codes):
        by_shape.setdefault(c.shape, []).append(i)
    for indices in by_shape.values():
        batch = torch.from_numpy(np.stack([codes[i] for i in indices]).astype(np.int64))
        wav = codec.decode(batch.to(device)).cpu()
        for b, i in enumerate(indices):
            out[i] = wav[b, 0].numpy()
    return out


def check_codes(codes: np.ndarray, codec: Codec, where: str) -> None:
    if codes.ndim != 2 or not 1 <= codes.shape[0] <= codec.n_q or codes.shape[1] == 0:
        raise DataError(f"{where}: expected codes [n, T] with 1 <= n <= {codec.n_q}, got shape {codes.shape}")
    if not np.issubdtype(codes.dtype, np.integer) or codes.min() < 0 or codes.max() >= codec.codebook_size:
        raise DataError(f"{where}: codes must be integers in [0, {codec.codebook_size})")


# -- directories -------------------------------------------------------------------------------


def _claim(dst: Path, identity: str) -> None:
    """Mark ``dst`` as holding this codec's codes; refuse a folder of another codec's."""
    marker = dst / IDENTITY_FILE
    if marker.is_file():
        theirs = json.loads(marker.read_text())["identity"]
        if theirs != identity:
            raise ConfigError(f"{dst} holds codes of codec {theirs}, not {identity}: use another folder")
    else:
        write_json(marker, {"identity": identity})


def _save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())


def _jobs(src: Path, dst: Path, pattern: str, suffix: str) -> list[tuple[Path, Path]]:
    if not src.is_dir():
        raise DataError(f"{src}: not a directory")
    files = sorted(src.rglob(pattern))
    if not files:
        raise DataError(f"{src}: no {pattern} files")
    return [(f, (dst / f.relative_to(src)).with_suffix(suffix)) for f in files]


def _run(jobs: list[tuple[Path, Path]], size: Callable[[Path], int], load: Callable[[Path], np.ndarray],
         convert: Callable[[list[np.ndarray]], list[np.ndarray]], save: Callable[[Path, np.ndarray], None],
         max_size: int, progress: Callable[[int, int], None] | None,
         intact: Callable[[Path, Path], bool] = lambda src, dst: True) -> int:
    """Convert the jobs whose output is missing or not ``intact(src, dst)`` (a rerun checks what an
    earlier run left rather than trusting it), in batches of similar ``size`` (read from file headers:
    only one batch is in memory at a time); returns how many ran."""
    out_of = {str(s): d for s, d in jobs if not d.is_file() or not intact(s, d)}
    done = 0
    for keys in batches_by_length({k: size(Path(k)) for k in out_of}, max_size):
        for key, result in zip(keys, convert([load(Path(k)) for k in keys])):
            save(out_of[key], result)
        done += len(keys)
        if progress is not None:
            progress(done, len(out_of))
    return len(out_of)


def _samples(path: Path, sample_rate: int) -> int:
    """Samples of an audio file once resampled to ``sample_rate``, from its header."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises several types for missing/corrupt files
        raise DataError(f"{path}: cannot read audio ({e})") from None
    return round(info.frames * sample_rate / info.samplerate)


def encode_dir(codec: Codec, identity: str, src: Path, dst: Path, batch_seconds: float = 60.0,
               device: str = "cpu", progress=None) -> int:
    """Every wav under ``src`` -> codes ``.npy`` under ``dst``; returns how many were encoded (not skipped)."""
    jobs = _jobs(Path(src), Path(dst), "*.wav", ".npy")
    _claim(Path(dst), identity)
    dtype = np.int16 if codec.codebook_size <= 2 ** 15 else np.int32

    def intact(src: Path, dst: Path) -> bool:  # readable codes of the right shape
        try:
            codes = np.load(dst, mmap_mode="r", allow_pickle=False)
        except Exception:  # numpy raises several types for damaged files
            return False
        return codes.ndim == 2 and codes.shape[-1] == codec.frames(_samples(src, codec.sample_rate))

    return _run(jobs, lambda p: _samples(p, codec.sample_rate), lambda p: read_audio(p, codec.sample_rate)[0],
                lambda waves: [c.astype(dtype) for c in encode_waves(codec, waves, device)],
                _save_npy, int(batch_seconds * codec.sample_rate), progress, intact)


def decode_dir(codec: Codec, identity: str, src: Path, dst: Path, batch_seconds: float = 60.0,
               device: str = "cpu", progress=None) -> int:
    """Every codes ``.npy`` under ``src`` -> a wav under ``dst``; refuses codes of another codec."""
    marker = Path(src) / IDENTITY_FILE
    if marker.is_file() and json.loads(marker.read_text())["identity"] != identity:
        raise ConfigError(f"{src} holds codes of codec {json.loads(marker.read_text())['identity']}, not {identity}")
    jobs = _jobs(Path(src), Path(dst), "*.npy", ".wav")

    def load(path: Path) -> np.ndarray:
        try:
            codes = np.load(path, allow_pickle=False)
        except Exception as e:  # numpy raises several types for damaged files
            raise DataError(f"{path}: cannot read codes ({e})") from None
        check_codes(codes, codec, str(path))
        return codes

    def frames(path: Path) -> int:  # memory-mapped: the header only, not the codes
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False).shape[-1] * codec.hop_length
        except Exception as e:  # numpy raises several types for damaged files
            raise DataError(f"{path}: cannot read codes ({e})") from None

    def intact(src: Path, dst: Path) -> bool:  # a readable wav as long as its codes say
        import soundfile as sf

        try:
            return sf.info(str(dst)).frames == frames(src)
        except Exception:  # soundfile raises several types for damaged files
            return False

    return _run(jobs, frames, load,
                lambda codes: decode_codes(codec, codes, device),
                lambda path, wav: write_wav(path, wav, codec.sample_rate),
                int(batch_seconds * codec.sample_rate), progress, intact)


# -- manifests ---------------------------------------------------------------------------------


def encode_manifest(codec: Codec, identity: str, src: Path, dst: Path, field: str = "audio",
                    batch_seconds: float = 60.0, device: str = "cpu", progress=None) -> int:
    """A copy of manifest ``src`` at ``dst`` whose cuts carry the first-group codes of their ``field``
    audio and the codec identity; returns how many cuts were encoded (not resumed)."""
    from lhotse import CutSet

    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise ConfigError(f"{dst}: write the coded manifest next to the source, not over it")
    cuts = read_cuts(src).to_eager()
    partial = dst.with_name(dst.name + ".partial.jsonl")
    done = read_partial_jsonl(partial)
    stale = [rid for rid, r in done.items() if r.get("custom", {}).get(CODEC) != identity]
    if stale:
        raise ConfigError(f"{partial} holds cuts coded by another codec (e.g. {stale[0]!r}): remove it")
    recordings = {}
    for cut in cuts:
        if cut.id in done:
            continue
        recording = field_recording(cut, field)
        if recording is None:
            raise DataError(f"{src}: cut {cut.id!r}, field {field!r}: no recording to encode")
        recordings[cut.id] = recording

    def load(rid: str) -> np.ndarray:
        try:
            return recordings[rid].resample(codec.sample_rate).load_audio().mean(0).astype(np.float32)
        except Exception as e:  # lhotse and its audio backends raise several types
            raise DataError(f"{src}: cut {rid!r}, field {field!r}: cannot load audio ({e})") from None

    by_id = {cut.id: cut for cut in cuts}
    lengths = {rid: round(r.duration * codec.sample_rate) for rid, r in recordings.items()}
    partial.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "a", encoding="utf-8") as out:
        finished = 0
        for ids in batches_by_length(lengths, int(batch_seconds * codec.sample_rate)):
            for rid, codes in zip(ids, encode_waves(codec, [load(i) for i in ids], device)):
                cut = by_id[rid].with_custom(CODES, codes[0].tolist()).with_custom(CODEC, identity)
                done[rid] = cut.to_dict()
                out.write(json.dumps(done[rid]) + "\n")
            out.flush()
            finished += len(ids)
            if progress is not None:
                progress(finished, len(recordings))
    coded = CutSet.from_dicts(done[cut.id] for cut in cuts)  # the source's order
    tmp = dst.with_name(f".{dst.name}.tmp{''.join(dst.suffixes)}")
    coded.to_file(tmp)
    tmp.replace(dst)
    partial.unlink()
    return len(recordings)


@dataclass(frozen=True)
class CodeUsage:
    """How the first-group codes of a coded manifest use the codebook. The LM learns these codes, so a
    codec whose first group has collapsed onto a few codes (an undertrained one) shows here first."""

    frames: int
    used: int  # distinct codes
    size: int  # codebook size
    perplexity: float  # 2 ** entropy of the code distribution: how many codes are in effective use
    top_share: float  # frames on the commonest code

    @classmethod
    def of(cls, sequences: Iterable[Sequence[int]], size: int) -> CodeUsage:
        counts = np.zeros(size, dtype=np.int64)
        for codes in sequences:
            counts += np.bincount(np.asarray(codes, dtype=np.int64), minlength=size)
        frames = int(counts.sum())
        p = counts[counts > 0] / max(frames, 1)
        return cls(frames, int((counts > 0).sum()), size, float(2 ** -(p * np.log2(p)).sum()),
                   float(p.max()) if frames else 0.0)

    @property
    def collapsed(self) -> bool:
        """One code on most frames: whatever the audio, the first group says almost nothing about it."""
        return self.top_share > 0.5

    def __str__(self) -> str:
        return (f"first-group codes: {self.used} of {self.size} in use, perplexity {self.perplexity:.1f}, "
                f"the commonest on {self.top_share:.0%} of {self.frames} frames")


def manifest_code_usage(path: Path, size: int) -> CodeUsage:
    """``CodeUsage`` of the first-group codes in coded manifest ``path``."""
    return CodeUsage.of((cut.custom[CODES] for cut in read_cuts(path)), size)
