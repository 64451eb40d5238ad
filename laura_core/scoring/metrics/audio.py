"""Signal metrics for generated or enhanced audio: SI-SDR, PESQ (wide band), STOI/ESTOI and
mel-cepstral distortion with DTW alignment. pesq, pystoi, pysptk and librosa do the real work.

Reference and estimate are mono float arrays at the same rate. The sample-aligned metrics (SI-SDR,
PESQ, STOI) score the reference's span: a longer estimate is cut to it (codec and vocoder outputs
may run a few samples of padding past it), a shorter one is padded with silence, so an output that
stops early is scored on what it left out too, not on its own length.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

PESQ_RATE = 16000  # wide-band PESQ is defined at 16 kHz
PESQ_FLOOR = 1.0  # MOS-LQO scale minimum: the score of a missing or silent estimate
SI_SDR_FLOOR = -50.0  # dB, the score of a missing or silent estimate


def _aligned(ref: np.ndarray, est: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``est`` cut or zero-padded to the length of ``ref``; both as float64."""
    est = np.asarray(est[: len(ref)], dtype=np.float64)
    return np.asarray(ref, dtype=np.float64), np.pad(est, (0, len(ref) - len(est)))


def is_silent(wav: np.ndarray | None) -> bool:
    return wav is None or len(wav) == 0 or not np.any(np.abs(wav) > 1e-9)


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al., 2019), means removed."""
    ref, est = _aligned(ref, est)
    ref, est = ref - ref.mean(), est - est.mean()
    if is_silent(est):
        return SI_SDR_FLOOR
    scale = np.dot(est, ref) / max(np.dot(ref, ref), 1e-20)
    target = scale * ref
    noise = est - target
    return float(10 * np.log10(max(np.dot(target, target), 1e-20) / max(np.dot(noise, noise), 1e-20)))


def pesq_wb(ref: np.ndarray, est: np.ndarray, sample_rate: int) -> float:
    """Wide-band PESQ (ITU-T P.862.2, MOS-LQO) at 16 kHz."""
    from pesq import pesq

    if sample_rate != PESQ_RATE:
        raise ValueError(f"wide-band PESQ needs {PESQ_RATE} Hz audio, got {sample_rate} Hz")
    ref, est = _aligned(ref, est)
    if is_silent(est):
        return PESQ_FLOOR
    return float(pesq(PESQ_RATE, ref, est, "wb"))


def stoi(ref: np.ndarray, est: np.ndarray, sample_rate: int, extended: bool = False) -> float:
    """STOI (Taal et al., 2011) or, with ``extended``, ESTOI (Jensen & Taal, 2016)."""
    from pystoi import stoi as _stoi

    ref, est = _aligned(ref, est)
    if is_silent(est):
        return 0.0
    return float(_stoi(ref, est, sample_rate, extended=extended))


@dataclass
class MCDOptions:
    order: int = 24  # mel-cepstrum order; c0 (energy) is excluded from the distance
    frame_ms: float = 25.0
    hop_ms: float = 5.0


def mel_cepstrum(wav: np.ndarray, sample_rate: int, options: MCDOptions) -> np.ndarray:
    """Frame-wise mel-cepstra ``[frames, order + 1]``: Blackman-windowed power spectra turned into
    mel-cepstra by pysptk's ``sp2mc`` with the all-pass constant for the rate (0.41 at 16 kHz)."""
    import warnings

    import librosa

    with warnings.catch_warnings():  # pysptk imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        import pysptk

    win = int(round(sample_rate * options.frame_ms / 1000))
    hop = int(round(sample_rate * options.hop_ms / 1000))
    n_fft = 1 << (win - 1).bit_length()
    wav = np.asarray(wav, dtype=np.float64)
    if len(wav) < win:
        wav = np.pad(wav, (0, win - len(wav)))
    frames = librosa.util.frame(wav, frame_length=win, hop_length=hop, axis=0) * np.blackman(win)
    power = np.maximum(np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2, 1e-10)  # floor: digital silence
    alpha = _all_pass_alpha(sample_rate)
    # pysptk.sp2mc, with its per-frame freqt as one matrix product (it was 2/3 of scoring tts).
    cepstrum = np.fft.irfft(np.log(power), axis=1)
    cepstrum[:, 0] /= 2.0
    return cepstrum @ _warping(cepstrum.shape[1], options.order, alpha).T


@functools.lru_cache(maxsize=8)
def _all_pass_alpha(sample_rate: int) -> float:
    """pysptk's all-pass constant for the rate, found once per rate: ``mcepalpha`` searches a grid of a
    thousand values on every call (a fifth of the time of scoring tts)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import pysptk

    return float(pysptk.util.mcepalpha(sample_rate))


@functools.lru_cache(maxsize=8)
def _warping(length: int, order: int, alpha: float) -> np.ndarray:
    """pysptk's ``freqt`` (cepstrum -> mel-cepstrum of ``order``) as the linear map it is: column k is the
    warped unit cepstrum e_k, so warping every frame is one matrix product."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import pysptk

    basis = np.eye(length)
    return np.stack([pysptk.freqt(basis[k], order, alpha) for k in range(length)], axis=1)


def mcd_dtw(ref: np.ndarray, est: np.ndarray, sample_rate: int, options: MCDOptions) -> float:
    """Mel-cepstral distortion in dB over the DTW path between the two mel-cepstrum sequences."""
    import librosa

    c_ref = mel_cepstrum(ref, sample_rate, options)[:, 1:]
    c_est = mel_cepstrum(est, sample_rate, options)[:, 1:]
    _, path = librosa.sequence.dtw(X=c_ref.T, Y=c_est.T, metric="euclidean")
    diff = c_ref[path[:, 0]] - c_est[path[:, 1]]
    return float(np.mean(10.0 / np.log(10.0) * np.sqrt(2.0 * np.sum(diff**2, axis=1))))
