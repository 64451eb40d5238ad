"""AAC scores equal pycocoevalcap's own, called directly the COCO way; SPICE is reported unavailable offline."""
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from laura_core.task import Pair
from laura_tasks.aac import spice_missing

REFS = {
    "c1": ["Water is flowing in a stream.", "A stream of water runs over rocks.", "Water trickles and splashes."],
    "c2": ["A dog barks twice.", "A dog is barking loudly.", "Barking of a dog nearby."],
    "c3": ["A door creaks open and slams shut.", "Someone opens a creaky door.", "A door is opened and shut."],
}
HYPS = {"c1": "water flows in a stream", "c2": "a dog barks", "c3": "a bird sings"}


def test_aac_matches_pycocoevalcap(registry):
    pairs = [Pair(k, {"id": k, "text": REFS[k]}, {"id": k, "text": HYPS[k]}) for k in REFS]
    result = registry.task("aac").score(pairs, None, registry)
    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in REFS.items()})
    res = tok.tokenize({k: [{"caption": v}] for k, v in HYPS.items()})
    bleu = Bleu(4).compute_score(gts, res, verbose=0)[0]
    for n in range(4):
        assert result.metrics[f"bleu_{n + 1}"] == pytest.approx(bleu[n])
    assert result.metrics["meteor"] == pytest.approx(Meteor().compute_score(gts, res)[0])
    assert result.metrics["rouge_l"] == pytest.approx(Rouge().compute_score(gts, res)[0])
    assert result.metrics["cider"] == pytest.approx(Cider().compute_score(gts, res)[0])
    assert result.metrics["cider"] > 0 and result.metrics["bleu_1"] > result.metrics["bleu_4"]
    assert result.meta["references_per_clip"] == [3]


def test_spice_reported_unavailable_with_reason(registry):
    why = spice_missing()
    if why is None:
        pytest.skip("Stanford CoreNLP jars are installed here: SPICE runs")
    pairs = [Pair("c1", {"id": "c1", "text": REFS["c1"]}, {"id": "c1", "text": HYPS["c1"]})]
    result = registry.task("aac").score(pairs, None, registry)
    assert result.metrics["spice"] is None and result.metrics["spider"] is None
    assert "stanford-corenlp-3.6.0.jar" in result.unavailable["spice"] and result.unavailable["spider"] == "needs SPICE"
    assert result.metrics["bleu_1"] > 0  # everything else is still scored
