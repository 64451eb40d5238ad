"""Metric values of the text-output tasks against hand computation and the metric libraries."""
import jiwer
import pytest
import sacrebleu

from laura_core.scoring.metrics.text import ErrorRateOptions, NormalizerOptions, normalize
from laura_core.task import Pair


def pairs(refs, hyps, field="text"):
    return [Pair(f"u{i}", {"id": f"u{i}", field: r}, {"id": f"u{i}", field: h}) for i, (r, h) in enumerate(zip(refs, hyps))]


def test_normalizer_is_documented_behaviour():
    opts = NormalizerOptions()
    assert normalize("  Don't STOP—believing!  ", opts) == "don't stop believing"
    assert normalize("ｆｕｌｌ－width，　ＡＢＣ", opts) == "full width abc"  # NFKC folds full-width forms
    assert normalize("'quoted' words", opts) == "quoted words"  # apostrophes kept only inside words
    assert normalize("Keep, CASE", NormalizerOptions(lowercase=False)) == "Keep CASE"
    assert normalize("a.b", NormalizerOptions(remove_punctuation=False)) == "a.b"


def test_asr_matches_jiwer_on_normalised_text(registry):
    refs = ["The cat sat on the mat.", "Hello, world!", "我们 今天 去 公园"]
    hyps = ["the cat sat on a mat", "hello word", "我们 明天 去 公园"]
    result = registry.task("asr").score(pairs(refs, hyps), ErrorRateOptions(), registry)
    norm_r = ["the cat sat on the mat", "hello world", "我们 今天 去 公园"]
    norm_h = hyps
    # By hand: 1 sub in 6 words, 1 sub in 2, 1 sub in 4 -> 3 / 12.
    assert result.metrics["wer"] == pytest.approx(3 / 12)
    assert result.metrics["wer"] == pytest.approx(jiwer.wer(norm_r, norm_h))
    # CER counts spaces as characters by default, as jiwer and ESPnet do; the option drops them.
    assert result.metrics["cer"] == pytest.approx(jiwer.cer(norm_r, norm_h))
    assert result.meta["cer_ignore_spaces"] is False
    nospace = lambda xs: ["".join(x.split()) for x in xs]  # noqa: E731
    spaceless = registry.task("asr").score(pairs(refs, hyps), ErrorRateOptions(cer_ignore_spaces=True), registry)
    assert spaceless.metrics["cer"] == pytest.approx(jiwer.cer(nospace(norm_r), nospace(norm_h)))
    assert result.meta["normalizer"].startswith("basic-v1(lowercase=True")
    assert result.meta["word_errors"] == {"substitutions": 3, "deletions": 0, "insertions": 0}


@pytest.mark.parametrize("name", ["s2tt", "mt"])
def test_translation_matches_sacrebleu(name, registry):
    refs = ["The cat is on the mat.", "There is a book on the table.", "It rains a lot in autumn."]
    hyps = ["The cat sits on the mat.", "A book is on the table.", "It rains a lot in autumn."]
    task = registry.task(name)
    result = task.score(pairs(refs, hyps), task.Options(), registry)
    assert result.metrics["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert result.metrics["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert 0 < result.metrics["bleu"] < 100
    assert result.meta["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0")
    assert "chrF2" not in result.meta["bleu_signature"] and "nc:6" in result.meta["chrf_signature"]
    opts = task.Options(tokenize="char")
    assert "tok:char" in task.score(pairs(refs, hyps), opts, registry).meta["bleu_signature"]


def test_ser_by_hand(registry):
    refs = ["happy", "happy", "sad", "angry"]
    hyps = ["happy", "Sad ", "sad", "bored"]
    m = registry.task("ser").score(pairs(refs, hyps), None, registry).metrics
    assert m["accuracy"] == pytest.approx(2 / 4)
    # Recall: happy 1/2, sad 1/1, angry 0/1 -> mean 0.5.
    assert m["unweighted_accuracy"] == pytest.approx((0.5 + 1 + 0) / 3)
    # F1: happy P=1 R=.5 -> 2/3; sad P=.5 R=1 -> 2/3; angry 0. Weighted by support 2,1,1.
    assert m["weighted_f1"] == pytest.approx((2 * 2 / 3 + 1 * 2 / 3 + 0) / 4)


def slu_pairs(items):
    return [
        Pair(f"u{i}", {"id": f"u{i}", "intent": ri, "slots": rs}, {"id": f"u{i}", "intent": hi, "slots": hs})
        for i, (ri, rs, hi, hs) in enumerate(items)
    ]


def slot(t, f):
    return {"type": t, "filler": f}


def test_slu_f1_by_hand_follows_slurp(registry):
    # One gold date, predicted "tomorow": word distance 1 (1 sub / 1 word), char distance 1/8.
    result = registry.task("slu").score(
        slu_pairs([("alarm_set", [slot("date", "tomorrow")], "alarm_set", [slot("date", "tomorow")])]), None, registry)
    # word: tp 1, fp 1, fn 1; char: tp 1, fp .125, fn .125. Pooled: tp 2, fp 1.125, fn 1.125.
    p = r = 2 / 3.125
    assert result.metrics["slu_f1"] == pytest.approx(2 * p * r / (p + r))
    assert result.metrics["intent_accuracy"] == 1.0 and result.metrics["exact_match"] == 0.0
    assert result.meta["word_distance_f1"] == pytest.approx(0.5)


def test_slu_counts_wrong_types_missing_and_extra_slots(registry):
    items = [
        ("play_music", [slot("artist_name", "Nina Simone")], "play_music", [slot("artist_name", "nina  simone")]),
        ("weather_query", [slot("place_name", "prague"), slot("date", "today")], "weather_query", [slot("time", "today")]),
        ("iot_hue_lightoff", [], "iot_hue_lighton", [slot("house_place", "kitchen")]),
    ]
    result = registry.task("slu").score(slu_pairs(items), None, registry)
    # Item 1 matches exactly (case and spaces are normalised). Item 2: time is a false positive, both golds
    # are false negatives. Item 3: one false positive. Per distance: tp 1, fp 2, fn 2.
    p, r = 1 / 3, 1 / 3
    assert result.metrics["slu_f1"] == pytest.approx(2 * p * r / (p + r))
    assert result.metrics["intent_accuracy"] == pytest.approx(2 / 3)
    assert result.metrics["exact_match"] == pytest.approx(1 / 3)


def test_slu_output_format_round_trips_and_malformed_output_is_scored_not_dropped(registry):
    task = registry.task("slu")
    record = {"id": "x", "audio": "a.wav", "intent": "alarm_set", "slots": [slot("time", "seven am"), slot("date", "today")]}
    text = task.format_target(record)
    assert text == "alarm_set | time = seven am | date = today"
    assert task.to_hypothesis("x", text) == {"id": "x", "intent": "alarm_set", "slots": record["slots"]}
    assert task.to_hypothesis("x", "alarm_set | garbage")["slots"] == [slot("garbage", "")]
