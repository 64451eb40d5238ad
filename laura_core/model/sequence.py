"""The LauraGPT sequence: ``[input] [task token] [prefix] [output] [eos]``.

Input is either text token ids or a run of audio positions that the audio encoder fills with
continuous embeddings. The prefix is output given, not produced: a zero-shot tts prompt's codec
tokens, which the output continues in the same voice (LauraTTS). The loss covers the output tokens
and eos only. Pure functions over ids.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from laura_core.model.vocab import VocabLayout
from laura_core.task import Modality

IGNORE_INDEX = -100


@dataclass(frozen=True)
class PromptSequence:
    ids: tuple[int, ...]  # audio positions hold layout.audio_id, a placeholder for encoder outputs
    is_audio: tuple[bool, ...]  # positions the model fills with encoder outputs
    loss_mask: tuple[bool, ...]  # positions whose token the model is trained to predict: output + eos
    prompt_length: int  # len([input] [task] [prefix]): generation starts here

    def __len__(self) -> int:
        return len(self.ids)

    def labels(self, ignore_index: int = IGNORE_INDEX) -> list[int]:
        """Next-token targets aligned with ``ids``: position i predicts ids[i+1] where that is in the loss."""
        out = [ignore_index] * len(self.ids)
        for i in range(len(self.ids) - 1):
            if self.loss_mask[i + 1]:
                out[i] = self.ids[i + 1]
        return out


def build_sequence(
    layout: VocabLayout,
    task: str,
    output: Modality,
    source: Sequence[int] | int,
    target: Sequence[int] | None = None,
    prefix: Sequence[int] = (),
) -> PromptSequence:
    """Build one example's sequence.

    ``source``: text token ids, or the number of audio frames the encoder produces.
    ``target``: output ids in the unified vocabulary (text ids, or codec ids from
    ``layout.codec_id``); ``None`` builds the inference prompt ``[input] [task] [prefix]``.
    ``prefix``: output ids that precede the target, given and not learned.
    """
    if isinstance(source, int):
        if source <= 0:
            raise ValueError(f"task {task}: audio input must have at least one frame, got {source}")
        src = [layout.audio_id] * source
        src_audio = [True] * source
    else:
        src = list(source)
        bad = [t for t in src if not 0 <= t < layout.text_size]
        if bad:
            raise ValueError(f"task {task}: text input ids outside the text range [0, {layout.text_size}): {bad[:5]}")
        src_audio = [False] * len(src)
    allowed = layout.output_ranges(output)
    for what, part in (("prefix", prefix), ("target", target or ())):
        bad = [t for t in part if t == layout.eos_id or not any(lo <= t < hi for lo, hi in allowed)]
        if bad:
            raise ValueError(f"task {task}: {what} ids not of the {output.value} output range: {bad[:5]}")
    prompt = src + [layout.task_id(task)] + list(prefix)
    ids, is_audio, loss = prompt, src_audio + [False] * (1 + len(prefix)), [False] * len(prompt)
    if target is not None:
        tgt = list(target)
        ids = prompt + tgt + [layout.eos_id]
        is_audio = is_audio + [False] * (len(tgt) + 1)
        loss = loss + [True] * (len(tgt) + 1)
    return PromptSequence(tuple(ids), tuple(is_audio), tuple(loss), len(prompt))


def length_groups(lengths: Sequence[int], max_groups: int, overhead: int = 256) -> list[list[int]]:
    """Row indices of a batch split into at most ``max_groups`` groups of like length, each to run padded
    to its own longest row: the split (of the rows sorted by length) that costs the fewest positions,
    rows times longest row summed over groups, counting ``overhead`` positions for each group (what one
    more pass through the GPT costs beyond its positions: about 256 for the demo's 256-wide GPT on 2 CPU
    cores, where 64 and 512 measured no better)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n, groups = len(order), max(1, min(max_groups, len(order)))
    # cost[g][j]: the first j sorted rows in g groups; start[g][j]: where the last of those groups starts
    cost = [[float("inf")] * (n + 1) for _ in range(groups + 1)]
    start = [[0] * (n + 1) for _ in range(groups + 1)]
    cost[0][0] = 0
    for g in range(1, groups + 1):
        for j in range(1, n + 1):
            for i in range(g - 1, j):
                c = cost[g - 1][i] + (j - i) * lengths[order[j - 1]] + overhead
                if c < cost[g][j]:
                    cost[g][j], start[g][j] = c, i
    g = min(range(1, groups + 1), key=lambda k: cost[k][n])
    out, j = [], n
    while g > 0:
        i = start[g][j]
        out.append(order[i:j])
        g, j = g - 1, i
    return out[::-1]
