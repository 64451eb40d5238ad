"""Metric values of the audio-output tasks (se, tts) against pesq, pystoi, hand-built signals and an exact judge."""
import json

import numpy as np
import pesq
import pystoi
import pytest

from laura_core.metrics.audio import MCDOptions, mcd_dtw, si_sdr
from laura_core.scoring import score_files
from laura_example_plugin import pcm_key
from tests.conftest import RATE, write_jsonl, write_wav


def test_si_sdr_by_hand():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(16000)
    ref -= ref.mean()
    noise = rng.standard_normal(16000)
    noise -= noise.mean()
    noise -= noise @ ref / (ref @ ref) * ref  # orthogonal to the reference
    noise *= np.sqrt((ref @ ref) / (noise @ noise) / 100)  # 20 dB below it
    assert si_sdr(ref, 3.0 * (ref + noise)) == pytest.approx(20.0, abs=1e-6)  # scale does not matter
    assert si_sdr(ref, np.zeros_like(ref)) == -50.0


def test_se_matches_pesq_and_pystoi(tmp_path, registry, speech):
    rng = np.random.default_rng(1)
    clean = {"n1": speech["a"], "n2": speech["b"]}
    noisy = {k: v + 0.02 * rng.standard_normal(len(v)).astype(np.float32) for k, v in clean.items()}
    for k in clean:
        write_wav(tmp_path / "clean" / f"{k}.wav", clean[k])
        write_wav(tmp_path / "enh" / f"{k}.wav", noisy[k])
    ref = write_jsonl(tmp_path / "ref.jsonl", [{"id": k, "audio": f"clean/{k}.wav"} for k in clean])
    hyp = write_jsonl(tmp_path / "hyp.jsonl", [{"id": k, "audio": f"enh/{k}.wav"} for k in clean])
    m = score_files(registry.task("se"), ref, hyp, registry).metrics
    expect = lambda f: np.mean([f(clean[k], noisy[k]) for k in clean])  # noqa: E731
    assert m["pesq"] == pytest.approx(expect(lambda c, n: pesq.pesq(RATE, c, n, "wb")), abs=1e-4)
    assert m["stoi"] == pytest.approx(expect(lambda c, n: pystoi.stoi(c, n, RATE)), abs=1e-5)
    assert m["estoi"] == pytest.approx(expect(lambda c, n: pystoi.stoi(c, n, RATE, extended=True)), abs=1e-5)
    assert m["si_sdr"] == pytest.approx(expect(si_sdr), abs=1e-3)
    assert 1.0 < m["pesq"] < 4.7 and 0.5 < m["stoi"] <= 1.0

    # A missing output scores each metric's floor and halves the mean.
    write_jsonl(tmp_path / "hyp.jsonl", [{"id": "n1", "audio": "enh/n1.wav"}])
    report = score_files(registry.task("se"), ref, tmp_path / "hyp.jsonl", registry)
    assert report.missing == ["n2"]
    assert report.metrics["stoi"] == pytest.approx(pystoi.stoi(clean["n1"], noisy["n1"], RATE) / 2, abs=1e-5)
    assert report.metrics["pesq"] == pytest.approx((pesq.pesq(RATE, clean["n1"], noisy["n1"], "wb") + 1.0) / 2, abs=1e-4)


def test_an_output_that_stops_early_is_scored_on_the_whole_reference(speech):
    from laura_core.metrics.audio import pesq_wb, stoi

    ref = speech["a"]
    tail_cut = ref[: RATE // 10]  # 0.1 s: PESQ alone would refuse it
    padded = np.concatenate([tail_cut, np.zeros(len(ref) - len(tail_cut), np.float32)])
    assert si_sdr(ref, tail_cut) == pytest.approx(si_sdr(ref, padded), abs=1e-9) and si_sdr(ref, tail_cut) < 0.5
    assert pesq_wb(ref, tail_cut, RATE) == pytest.approx(pesq.pesq(RATE, ref, padded, "wb"), abs=1e-4)
    assert stoi(ref, tail_cut, RATE) == pytest.approx(pystoi.stoi(ref, padded, RATE), abs=1e-6)
    assert stoi(ref, tail_cut, RATE) < 0.5 < stoi(ref, np.concatenate([ref, np.zeros(160, np.float32)]), RATE)


def test_mcd_properties(speech):
    opts = MCDOptions()
    same = mcd_dtw(speech["a"], speech["a"], RATE, opts)
    shifted = mcd_dtw(speech["a"], np.concatenate([np.zeros(800, np.float32), speech["a"]]), RATE, opts)
    other_voice = mcd_dtw(speech["a"], speech["a_gb"], RATE, opts)
    other_text = mcd_dtw(speech["a"], speech["b"], RATE, opts)
    assert same == pytest.approx(0.0, abs=1e-9)
    assert shifted < 0.5  # DTW absorbs a 50 ms delay
    assert 1.0 < other_voice and 1.0 < other_text


def test_tts_scores_the_judge_transcript_and_mcd(tmp_path, registry, speech):
    write_wav(tmp_path / "ref" / "t1.wav", speech["a"])
    write_wav(tmp_path / "ref" / "t2.wav", speech["b"])
    write_wav(tmp_path / "gen" / "t1.wav", speech["a_gb"])
    write_wav(tmp_path / "gen" / "t2.wav", speech["b"])
    table = tmp_path / "judge.json"
    # The lookup judge "hears" one error in t1 and t2 perfectly.
    table.write_text(json.dumps({pcm_key(speech["a_gb"]): "the birch canoe slit on the smooth planks",
                                 pcm_key(speech["b"]): "glue the sheet to the dark blue background"}))
    ref = write_jsonl(tmp_path / "ref.jsonl", [
        {"id": "t1", "text": "The birch canoe slid on the smooth planks.", "audio": "ref/t1.wav"},
        {"id": "t2", "text": "Glue the sheet to the dark blue background.", "audio": "ref/t2.wav"},
        {"id": "t3", "text": "Four words are missing.", "audio": "ref/t1.wav"},
    ])
    hyp = write_jsonl(tmp_path / "hyp.jsonl", [{"id": "t1", "audio": "gen/t1.wav"}, {"id": "t2", "audio": "gen/t2.wav"}])
    report = score_files(registry.task("tts"), ref, hyp, registry, ["judge=lookup", f"judge_options.table={table}"])
    assert report.metrics["wer"] == pytest.approx((1 + 0 + 4) / (8 + 8 + 4))  # t3 is missing: 4 deletions
    expected_mcd = np.mean([mcd_dtw(speech["a"], speech["a_gb"], RATE, MCDOptions()), 0.0])
    assert report.metrics["mcd"] == pytest.approx(expected_mcd, rel=1e-4)
    assert report.meta["judge"] == f"lookup judge ({table})" and report.meta["mcd_items"] == 2


def test_pocketsphinx_judge_runs_offline(registry, speech):
    judge = registry.create("judge", "pocketsphinx")
    silence, words = judge.transcribe([np.zeros(RATE, np.float32), speech["a"]])
    # PocketSphinx is a weak judge of espeak-ng's robotic voice, so only "hears something" is asserted.
    assert silence == "" and words.strip() != ""
    assert judge.identity().startswith("pocketsphinx 5.1.1")


def test_whisper_judge_hears_speech_and_names_itself(registry, tmp_path):
    pytest.importorskip("faster_whisper")
    import subprocess

    from laura_core.audio import read_audio
    from laura_core.metrics.text import ErrorRateOptions, error_rates

    text = "The birch canoe slid on the smooth planks."
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(tmp_path / "slt.wav")], check=True)
    judge = registry.create("judge", "whisper", workers=2)  # the default: Whisper base
    speech = read_audio(tmp_path / "slt.wav", RATE)[0]
    silence, words, short = judge.transcribe([np.zeros(RATE, np.float32), speech, speech[: RATE]])
    assert silence == "" and judge.workers == 2
    # In the order given, as one worker hears them one by one.
    alone = registry.create("judge", "whisper", workers=1)
    assert alone.transcribe([speech[: RATE], speech]) == [short, words]
    metrics, _ = error_rates([text], [words], ErrorRateOptions())
    assert metrics["wer"] <= 0.4, words  # flite slt: "The birch can use lid on the smooth planks."
    identity = judge.identity()
    assert identity.startswith("whisper base (model.bin sha256 ") and "faster-whisper 1.2.1" in identity


def test_tts_without_its_judge_reports_wer_unavailable(tmp_path, registry, speech):
    ref = write_jsonl(tmp_path / "ref.jsonl", [{"id": "t1", "text": "the birch canoe", "audio": "a.wav"}])
    write_wav(tmp_path / "a.wav", speech["a"])
    hyp = write_jsonl(tmp_path / "hyp.jsonl", [{"id": "t1", "audio": "a.wav"}])
    report = score_files(registry.task("tts"), ref, hyp, registry, [f"judge_options.model_dir={tmp_path / 'none'}"])
    assert report.metrics["wer"] is None and report.metrics["cer"] is None and report.metrics["mcd"] == 0.0
    assert "no such file or directory" in report.unavailable["wer"]
