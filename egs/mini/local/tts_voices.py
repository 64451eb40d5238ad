"""Which zero-shot tts voice candidates are near-twins: the measurement behind ``NEAR_TWINS`` in
``laura_plugins.preparers.mini.speech`` (and ``SER_NEAR_TWINS``: ser's extra training voices measured
the same way against every voice of the corpus and each other).

Each candidate and each other task's espeak-ng voice says three sentences; a voice's embedding is
Resemblyzer's for each. Two voices' similarity is the mean cosine over the 3 x 3 pairs. In candidate
order, a candidate is kept when it stays below the threshold to every kept one and to every other
task's voice; the rest are near-twins. Near-twins among the other tasks' voices are listed too.
About two minutes on 2 cores:

    python egs/mini/local/tts_voices.py
"""
from __future__ import annotations

import argparse

import numpy as np

from laura_plugins.judges.resemblyzer import ResemblyzerJudge
from laura_plugins.preparers.mini.speech import (NEAR_TWINS, SER_CANDIDATES, SER_NEAR_TWINS, TTS_CANDIDATES,
                                                  TTS_VOICES, VOICES, Spoken)

SENTENCES = ("The quick brown fox jumps over the lazy dog near the river bank.",
             "Please remember to bring your umbrella tomorrow morning.",
             "He saw the ship sailing slowly toward the distant harbour.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threshold", type=float, default=0.86)
    args = ap.parse_args()
    judge = ResemblyzerJudge()
    others = [v for v in VOICES if v.engine == "espeak-ng"]
    voices = list(TTS_CANDIDATES) + others
    emb = np.stack([embed(judge, voice) for voice in voices])  # [voices, sentences, dim]
    sim = np.einsum("aid,bjd->abij", emb, emb).mean((2, 3))
    n = len(TTS_CANDIDATES)
    other = range(n, len(voices))
    kept, twins = [], []
    for a in range(n):
        close = [b for b in [*kept, *other] if sim[a, b] >= args.threshold]
        (twins if close else kept).append(a)
        if close:
            print(f"near-twin: {voices[a].name} ({', '.join(f'{voices[b].name} {sim[a, b]:.3f}' for b in close)})")
    within = np.mean([emb[a, i] @ emb[a, j] for a in range(n) for i in range(3) for j in range(3) if i != j])
    pairs = sim[np.ix_(kept, kept)][np.triu_indices(len(kept), 1)]
    print(f"{len(kept)} of {n} candidates kept; between kept voices {pairs.mean():.3f} on average "
          f"(max {pairs.max():.3f}); two sentences of one voice {within:.3f}")
    for a in other:  # not for this list to fix, but said: another task's "unseen" voice may have a twin
        for b in other:
            if a < b and sim[a, b] >= args.threshold:
                print(f"other tasks' near-twins: {voices[a].name} {voices[b].name} {sim[a, b]:.3f}")
    found = {voices[a].name for a in twins}
    if found != NEAR_TWINS:
        print(f"NEAR_TWINS differs: add {sorted(found - NEAR_TWINS)}, remove {sorted(NEAR_TWINS - found)}")
    # ser's extra training voices: against every voice of the corpus (tts's included) and each other.
    tts_kept = [emb[voices.index(v)] for v in TTS_VOICES]
    ser = np.stack([embed(judge, v) for v in SER_CANDIDATES])
    corpus = np.stack(tts_kept + [emb[b] for b in other])
    to_corpus = np.einsum("aid,bjd->abij", ser, corpus).mean((2, 3))
    among = np.einsum("aid,bjd->abij", ser, ser).mean((2, 3))
    ser_kept, ser_twins = [], set()
    for a, voice in enumerate(SER_CANDIDATES):
        if to_corpus[a].max() >= args.threshold or any(among[a, b] >= args.threshold for b in ser_kept):
            ser_twins.add(voice.name)
            print(f"ser near-twin: {voice.name} ({to_corpus[a].max():.3f} to the corpus)")
        else:
            ser_kept.append(a)
    print(f"ser: {len(ser_kept)} of {len(SER_CANDIDATES)} kept; at most {to_corpus[ser_kept].max():.3f} to a voice "
          f"of the corpus")
    if ser_twins != SER_NEAR_TWINS:
        print(f"SER_NEAR_TWINS differs: add {sorted(ser_twins - SER_NEAR_TWINS)}, "
              f"remove {sorted(SER_NEAR_TWINS - ser_twins)}")


def embed(judge: ResemblyzerJudge, voice) -> np.ndarray:
    """The voice's unit embeddings ``[sentences, dim]``."""
    e = judge.embed([Spoken(s, voice).render() for s in SENTENCES])
    return e / np.linalg.norm(e, axis=1, keepdims=True)


if __name__ == "__main__":
    main()
