"""Metric values of the audio-output tasks (se, tts) against pesq, pystoi, hand-built signals and an exact judge."""
import json

import numpy as np
import pesq
import pystoi
import pytest

from laura_core.scoring.judge import ContentMemo
from laura_core.scoring.metrics.audio import MCDOptions, _all_pass_alpha, mcd_dtw, si_sdr
from laura_core.scoring.score import score_files
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
    from laura_core.scoring.metrics.audio import pesq_wb, stoi

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
    assert _all_pass_alpha(RATE) == pytest.approx(0.41, abs=0.005)  # pysptk's constant for 16 kHz
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


def test_whisper_judge_hears_speech_and_names_itself(registry, tmp_path, monkeypatch):
    pytest.importorskip("faster_whisper")
    import subprocess

    from laura_core.audio import read_audio
    from laura_core.scoring.metrics.text import ErrorRateOptions, error_rates

    text = "The birch canoe slid on the smooth planks."
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(tmp_path / "slt.wav")], check=True)
    judge = registry.create("judge", "whisper", workers=2)  # the default: Whisper base
    cls = type(judge)
    monkeypatch.setattr(cls, "_known", ContentMemo(1000))
    speech = read_audio(tmp_path / "slt.wav", RATE)[0]
    silence, words, short = judge.transcribe([np.zeros(RATE, np.float32), speech, speech[: RATE]])
    assert silence == "" and judge.workers == 2
    # In the order given, as one worker hears them one by one (nothing kept from the call before).
    monkeypatch.setattr(cls, "_known", ContentMemo(1000))
    alone = registry.create("judge", "whisper", workers=1)
    assert alone.transcribe([speech[: RATE], speech]) == [short, words]
    # Kept by content and settings: the same recordings again are not transcribed again; other
    # settings transcribe anew.
    calls = []
    transcribe_one = cls._transcribe_one
    monkeypatch.setattr(cls, "_transcribe_one", lambda self, wave: calls.append(len(wave)) or transcribe_one(self, wave))
    assert judge.transcribe([speech, speech.copy()]) == [words, words] and calls == []
    assert registry.create("judge", "whisper", beam_size=1, workers=1).transcribe([speech]) and calls == [len(speech)]
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


def flite(tmp_path, voice, text, name):
    import subprocess

    from laura_core.audio import read_audio

    path = tmp_path / f"{name}.wav"
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
    return read_audio(path, RATE)[0]


def test_speaker_similarity_tells_voices_apart(tmp_path, registry):
    pytest.importorskip("resemblyzer")
    said = {("slt", "a"): "The birch canoe slid on the smooth planks.", ("slt", "b"): "Glue the sheet to the dark blue background.",
            ("slt", "c"): "It's easy to tell the depth of a well.", ("rms", "c"): "It's easy to tell the depth of a well."}
    for (voice, k), text in said.items():
        write_wav(tmp_path / f"{voice}_{k}.wav", flite(tmp_path, voice, text, f"raw_{voice}_{k}"))
    refs = [{"id": "same", "text": said["slt", "a"], "audio": "slt_a.wav", "prompt": "slt_c.wav"},
            {"id": "other", "text": said["slt", "a"], "audio": "slt_a.wav", "prompt": "rms_c.wav"}]
    ref = write_jsonl(tmp_path / "ref.jsonl", refs)
    hyp = write_jsonl(tmp_path / "hyp.jsonl", [{"id": "same", "audio": "slt_b.wav"}, {"id": "other", "audio": "slt_b.wav"}])
    judge = registry.create("speaker_judge", "resemblyzer")
    waves = [flite(tmp_path, v, said[v, k], f"x_{v}_{k}") for v, k in said]
    emb = judge.embed(waves)
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):  # as in validation during bf16 training
        assert np.allclose(judge.embed(waves[:1]), emb[:1], atol=1e-6)
    same_voice, other_voice = float(emb[1] @ emb[2]), float(emb[1] @ emb[3])
    assert same_voice > other_voice + 0.1, (same_voice, other_voice)  # slt b vs slt c, against slt b vs rms c
    report = score_files(registry.task("tts"), ref, hyp, registry, ["judge=pocketsphinx"])
    # sim: both outputs against slt a; sim_prompt: the mean of a same-voice and an other-voice prompt.
    assert report.metrics["sim"] == pytest.approx(float(emb[1] @ emb[0]), abs=1e-4)
    assert report.metrics["sim_prompt"] == pytest.approx((same_voice + other_voice) / 2, abs=1e-4)
    assert report.meta["speaker_judge"].startswith("resemblyzer 0.1.4") and report.meta["sim_prompt_items"] == 2
    # A missing output has no voice: similarity 0 for it.
    write_jsonl(tmp_path / "hyp.jsonl", [{"id": "same", "audio": "slt_b.wav"}])
    half = score_files(registry.task("tts"), ref, tmp_path / "hyp.jsonl", registry, ["judge=pocketsphinx"])
    assert half.metrics["sim_prompt"] == pytest.approx(same_voice / 2, abs=1e-4)
    # Without prompts in the references, sim_prompt is unavailable, not 0.
    write_jsonl(tmp_path / "ref2.jsonl", [{k: v for k, v in r.items() if k != "prompt"} for r in refs])
    plain = score_files(registry.task("tts"), tmp_path / "ref2.jsonl", hyp, registry, ["judge=pocketsphinx"])
    assert plain.metrics["sim_prompt"] is None and "prompt" in plain.unavailable["sim_prompt"]
    broken = score_files(registry.task("tts"), ref, hyp, registry, ["judge=pocketsphinx", "speaker_judge=nope"])
    assert broken.metrics["sim"] is None and "nope" in broken.unavailable["sim"]


def test_speaker_judge_embeds_each_recording_once(tmp_path, registry, monkeypatch):
    pytest.importorskip("resemblyzer")
    judge = registry.create("speaker_judge", "resemblyzer")
    cls = type(judge)
    monkeypatch.setattr(cls, "_known", ContentMemo(1000))
    calls = []
    embed_one = cls._embed_one
    monkeypatch.setattr(cls, "_embed_one", lambda self, wave: calls.append(len(wave)) or embed_one(self, wave))
    a = flite(tmp_path, "slt", "The birch canoe slid on the smooth planks.", "a")
    b = flite(tmp_path, "rms", "Glue the sheet to the dark blue background.", "b")
    first = judge.embed([a, b, a.copy()])
    assert calls == [len(a), len(b)] and np.array_equal(first[0], first[2])
    first[0] *= 0  # the caller's copy, not the kept one
    # Another instance in the same process (the next folder of `laura score --dir`) reuses them.
    again = registry.create("speaker_judge", "resemblyzer").embed([b, a])
    assert len(calls) == 2 and np.array_equal(again, first[[1, 2]])
    assert np.linalg.norm(again[1]) == pytest.approx(1.0, abs=1e-4)
    changed = a.copy()
    changed[100] += 0.01  # other content: embedded anew
    judge.embed([changed])
    assert len(calls) == 3


def test_dnsmos_rates_clean_speech_above_noisy_speech(tmp_path, registry):
    pytest.importorskip("speechmos")
    clean = flite(tmp_path, "slt", "The birch canoe slid on the smooth planks.", "clean")
    noisy = clean + 0.1 * np.random.default_rng(0).standard_normal(len(clean)).astype(np.float32)
    judge = registry.create("quality_judge", "dnsmos")
    (good, bad) = judge.rate([clean, noisy])
    assert set(good) == {"ovrl", "sig", "bak", "p808"} and all(1.0 <= v <= 5.0 for v in good.values())
    assert good["bak"] > bad["bak"] + 1.0 and good["ovrl"] > bad["ovrl"] + 0.5, (good, bad)
    assert judge.rate([np.zeros(RATE, np.float32)]) == [dict.fromkeys(judge.scores, 1.0)]
    assert judge.identity().startswith("dnsmos P.835 + P.808 (speechmos 0.0.1.1")
    write_wav(tmp_path / "c.wav", clean)
    write_wav(tmp_path / "n.wav", noisy)
    ref = write_jsonl(tmp_path / "ref.jsonl", [{"id": "u", "audio": "c.wav"}])
    hyp = write_jsonl(tmp_path / "hyp.jsonl", [{"id": "u", "audio": "n.wav"}])
    report = score_files(registry.task("se"), ref, hyp, registry)
    assert report.metrics["dnsmos_bak"] == pytest.approx(bad["bak"], abs=1e-4)
    assert report.meta["quality_judge"] == judge.identity()
    off = score_files(registry.task("se"), ref, hyp, registry, ["quality_judge=none"])
    assert off.metrics["dnsmos_ovrl"] is None and off.unavailable["dnsmos_ovrl"] == "quality_judge is none"


def test_mel_cepstra_are_pysptks_sp2mc():
    """The MCD's mel-cepstra equal pysptk's sp2mc (its per-frame freqt done as one matrix product)."""
    import warnings

    import librosa

    from laura_core.scoring.metrics.audio import MCDOptions, mel_cepstrum

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import pysptk

    wav = np.random.default_rng(0).standard_normal(RATE) * 0.1
    options = MCDOptions()
    frames = librosa.util.frame(wav, frame_length=400, hop_length=80, axis=0) * np.blackman(400)
    power = np.maximum(np.abs(np.fft.rfft(frames, n=512, axis=1)) ** 2, 1e-10)
    expected = pysptk.sp2mc(power, order=options.order, alpha=pysptk.util.mcepalpha(RATE))
    np.testing.assert_allclose(mel_cepstrum(wav, RATE, options), expected, rtol=0, atol=1e-12)
