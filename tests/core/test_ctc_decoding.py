"""Joint CTC/attention decoding: the prefix scorer against torch's CTC loss, and its use by the model."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F

from laura_core.errors import ConfigError
from laura_core.model.ctc_prefix import CTCPrefixScorer
from laura_core.model.generation import DecodeOptions
from laura_core.model.lauragpt import Item, build_model, load_model_config
from tests.core.test_model import mixed_items

C = 5  # text ids 0..4, blank 5; eos is column C of the decoder's restricted logits
VOCAB, EOS = torch.arange(C + 1), C


def log_probs(rows, frames, seed=0):
    return torch.randn(rows, frames, C + 1, generator=torch.Generator().manual_seed(seed)).log_softmax(-1)


def full_score(scorer, row_seq):
    """Feed a label sequence then eos, one row; the sum of the joint scores at weight 1 is the
    hypothesis's CTC log-probability (prefix gains telescope)."""
    total = 0.0
    for tok in row_seq + [EOS]:
        joint = scorer.rescore(torch.zeros(1, C + 1))
        total += float(joint[0, tok])
        scorer.advance(torch.tensor([0]), torch.tensor([tok]))
    return total


@pytest.mark.parametrize("seq", [[1, 2, 2], [3], [0, 4, 1, 1], []])
def test_prefix_scores_add_up_to_the_ctc_probability(seq):
    lp, lengths = log_probs(1, 7), torch.tensor([6])  # one padded frame past the end
    scorer = CTCPrefixScorer(lp, lengths, torch.tensor([True]), VOCAB, EOS, weight=1.0, pre_beam=C + 1)
    expected = -F.ctc_loss(lp.transpose(0, 1), torch.tensor([seq or [0]])[:, : len(seq)], lengths,
                           torch.tensor([len(seq)]), blank=C, reduction="sum")
    assert full_score(scorer, seq) == pytest.approx(float(expected), abs=1e-4)


def test_rows_of_a_batch_score_as_they_would_alone():
    lp, lengths = log_probs(3, 8, seed=1), torch.tensor([8, 5, 6])
    gpt = torch.randn(3, C + 1, generator=torch.Generator().manual_seed(2)).log_softmax(-1)
    batch = CTCPrefixScorer(lp, lengths, torch.tensor([True, True, False]), VOCAB, EOS, 0.7, pre_beam=3)
    joint = batch.rescore(gpt)
    for r in range(2):
        alone = CTCPrefixScorer(lp[r:r + 1], lengths[r:r + 1], torch.tensor([True]), VOCAB, EOS, 0.7, 3)
        assert torch.allclose(alone.rescore(gpt[r:r + 1]), joint[r:r + 1])
    assert torch.equal(joint[2], gpt[2])  # an inactive row keeps the GPT's scores
    kept = torch.isfinite(joint[0])
    assert int(kept.sum()) == 3 and torch.equal(kept, torch.zeros(C + 1, dtype=torch.bool).scatter(0, gpt[0].topk(3).indices, True))


def test_options_are_checked():
    with pytest.raises(ValueError, match="ctc_weight"):
        DecodeOptions(ctc_weight=1.5)
    with pytest.raises(ValueError, match="greedy or beam"):
        DecodeOptions(strategy="sample", ctc_weight=0.5)


def build(registry, **changes):
    torch.manual_seed(0)
    return build_model(dataclasses.replace(load_model_config("tiny"), **changes), registry).eval()


def prompts(model):
    return [Item(it.task, it.source) for it in mixed_items(model) if model.outputs[it.task].value == "text"]


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_joint_decoding_changes_only_transcribing_tasks(registry, strategy):
    model = build(registry, ctc_weight=0.3)
    assert model.transcribing == {"asr"}
    with torch.no_grad():  # a CTC head that hears blank in every frame: asr must follow it
        model.ctc_head.bias.fill_(0.0)
        model.ctc_head.weight.fill_(0.0)
        model.ctc_head.bias[model.layout.text_size] = 20.0
    items = prompts(model)
    plain = model.generate(items, text=DecodeOptions(strategy=strategy, max_new_tokens=6))
    joint = model.generate(items, text=DecodeOptions(strategy=strategy, max_new_tokens=6, ctc_weight=1.0,
                                                     ctc_pre_beam=model.layout.text_size + 1))
    for it, a, b in zip(items, plain, joint):
        if it.task == "asr":
            assert b == []  # the CTC head hears nothing, so the transcript is empty
        else:
            assert a == b, it.task


def test_joint_decoding_needs_a_ctc_head(registry):
    model = build(registry)
    with pytest.raises(ConfigError, match="CTC head"):
        model.generate(prompts(model), text=DecodeOptions(ctc_weight=0.5))
