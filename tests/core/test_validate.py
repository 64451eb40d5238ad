import dataclasses
import json
import logging

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

from laura_core.cli import main
from laura_core.data.validate import OnError, ValidationOptions, check_cuts, filter_valid, validate_manifest
from laura_core.errors import DataError
from tests.conftest import write_wav
from tests.core.test_cli import laura


def tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * 220 * t)


def audio_cut(path, cid: str, text: str | None = "a short sentence", **custom) -> MonoCut:
    rec = Recording.from_file(path, recording_id=cid)
    sup = SupervisionSegment(id=cid, recording_id=cid, start=0, duration=rec.duration, text=text, language="en")
    return MonoCut(id=cid, start=0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup],
                   custom=custom or None)


def text_cut(cid: str, text: str, **custom) -> MonoCut:
    duration = len(text) / 15
    sup = SupervisionSegment(id=cid, recording_id=cid, start=0, duration=duration, text=text, language="de")
    return MonoCut(id=cid, start=0, duration=duration, channel=0, supervisions=[sup], custom=custom or None)


# The expected rate, the duration limit and the faults each record plants.
OPTIONS = ValidationOptions(sample_rates=[16000], max_duration=2.0)
ASR_FAULTS = {
    ("missing", "audio"): "file not found",
    ("corrupt", "audio"): "cannot decode",
    ("empty", "text"): "is empty",
    ("notext", "text"): "missing",
    ("rate8k", "audio"): "sample rate 8000 Hz, expected 16000",
    ("long", "audio"): "duration 3.00 s outside [0.1, 2.0] s",
    ("stretched", "audio"): "file lasts 1.000 s, cut says 1.500 s",
    ("dup", "id"): "duplicate id: 2 records share it",
}
CLEAN = ["ok1", "ok2"]


@pytest.fixture
def asr_cuts(tmp_path):
    wav = lambda name, seconds=1.0, rate=16000: write_wav(tmp_path / f"{name}.wav", tone(seconds, rate), rate)  # noqa: E731
    cuts = [audio_cut(wav(cid), cid) for cid in CLEAN]
    cuts.append(audio_cut(wav("missing"), "missing"))
    (tmp_path / "missing.wav").unlink()
    cuts.append(audio_cut(wav("corrupt"), "corrupt"))
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x01garbage, not a wave file" * 10)
    cuts.append(audio_cut(wav("empty"), "empty", text="  "))
    cuts.append(audio_cut(wav("notext"), "notext", text=None))
    cuts.append(audio_cut(wav("rate8k", rate=8000), "rate8k"))
    cuts.append(audio_cut(wav("long", seconds=3.0), "long"))
    cuts.append(dataclasses.replace(audio_cut(wav("stretched"), "stretched"), duration=1.5))
    cuts += [audio_cut(wav("dup"), "dup"), audio_cut(wav("dup2"), "dup")]
    return CutSet(cuts)


def flagged(report) -> dict[tuple[str, str], str]:
    return {(p.id, p.field): p.reason for p in report.problems}


def test_each_fault_is_flagged_by_id_field_and_reason(registry, asr_cuts):
    report = check_cuts(asr_cuts, registry.task("asr"), OPTIONS)
    found = flagged(report)
    assert found.keys() == ASR_FAULTS.keys()  # clean records are not flagged, nor is any fault twice
    for key, reason in ASR_FAULTS.items():
        assert reason in found[key], (key, found[key])
    assert report.checked == 11 and report.bad == 9  # both records of the duplicated id are bad
    assert not report.ok


def test_rate_and_duration_limits_are_options(registry, asr_cuts):
    found = flagged(check_cuts(asr_cuts, registry.task("asr"), ValidationOptions()))
    assert ("rate8k", "audio") not in found and ("long", "audio") not in found  # any rate, up to 30 s
    found = flagged(check_cuts(asr_cuts, registry.task("asr"), ValidationOptions(min_duration=1.5, tolerance=0.6)))
    assert found[("ok1", "audio")] == "duration 1.00 s outside [1.5, 30.0] s"
    assert ("stretched", "audio") in found  # within the tolerance, but too short


def test_truncated_files_are_caught(registry, tmp_path):
    task = registry.task("asr")
    wav = write_wav(tmp_path / "cut_short.wav", tone(1.0))
    flac = tmp_path / "cut_short.flac"
    sf.write(flac, tone(2.0), 16000)
    cuts = CutSet([audio_cut(wav, "wav"), audio_cut(flac, "flac")])
    for path in (wav, flac):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    # A wav's length comes from the file's size (minus its header); a flac header still promises every frame.
    found = flagged(check_cuts(cuts, task, ValidationOptions()))
    assert found == {("wav", "audio"): "file lasts 0.499 s, cut says 1.000 s"}
    found = flagged(check_cuts(cuts, task, ValidationOptions(decode_all=True)))
    assert found.keys() == {("wav", "audio"), ("flac", "audio")}
    assert found[("flac", "audio")].startswith(f"cannot decode {flac}: ")


def test_se_needs_its_clean_recording_and_codes_when_asked(registry, tmp_path):
    clean = Recording.from_file(write_wav(tmp_path / "clean.wav", tone(1.0)), recording_id="clean")
    noisy = write_wav(tmp_path / "noisy.wav", tone(1.0) + 0.01)
    short = Recording.from_file(write_wav(tmp_path / "short.wav", tone(0.5)), recording_id="short")
    cuts = CutSet([
        audio_cut(noisy, "good", clean=clean, codes=[1, 2, 3]),
        audio_cut(noisy, "noclean", codes=[1, 2]),
        audio_cut(noisy, "shortclean", clean=short, codes=[1]),
        audio_cut(noisy, "nocodes", clean=clean),
        audio_cut(noisy, "badcodes", clean=clean, codes=[[1, 2], [3, 4]]),
    ])
    se = registry.task("se")
    assert flagged(check_cuts(cuts, se, ValidationOptions())) == {
        ("noclean", "clean"): "missing (read from cut.custom['clean'])",
        ("shortclean", "clean"): "file lasts 0.500 s, cut says 1.000 s",
    }
    found = flagged(check_cuts(cuts, se, ValidationOptions(require_codes=True)))
    assert found.keys() == {("noclean", "clean"), ("shortclean", "clean"), ("nocodes", "codes"), ("badcodes", "codes")}
    assert "laura codec encode" in found[("nocodes", "codes")]


def test_text_only_records_need_their_fields(registry):
    cuts = CutSet([
        text_cut("m1", "guten Morgen", translation="good morning"),
        text_cut("m2", "danke"),
        text_cut("m3", "bitte", translation=7),
    ])
    assert flagged(check_cuts(cuts, registry.task("mt"), ValidationOptions())) == {
        ("m2", "translation"): "missing (read from cut.custom['translation'])",
        ("m3", "translation"): "expected a string, got int",
    }


def test_stop_policy_raises_naming_the_bad_records(registry, asr_cuts):
    with pytest.raises(DataError) as err:
        filter_valid(asr_cuts, registry.task("asr"), OPTIONS, manifest="asr/train.jsonl.gz")
    message = str(err.value)
    assert "asr/train.jsonl.gz (asr): 9 of 11 records are bad" in message
    assert "'missing' audio: file not found" in message and "'corrupt' audio: cannot decode" in message
    assert "and 5 more problems" in message and "\n" not in message


def test_skip_policy_drops_exactly_the_bad_records_and_says_so(registry, asr_cuts, caplog):
    options = ValidationOptions(sample_rates=[16000], max_duration=2.0, on_error=OnError.skip)
    with caplog.at_level(logging.WARNING, logger="laura_core.data.validate"):
        kept, report = filter_valid(asr_cuts, registry.task("asr"), options, manifest="train")
    assert [c.id for c in kept] == CLEAN
    assert report.bad == 9 and len(report.problems) == 8
    assert "skipping bad records: train (asr): 9 of 11 records are bad: 'missing' audio" in caplog.text


def test_clean_cuts_pass_through_unchanged(registry, asr_cuts):
    clean = asr_cuts.filter(lambda c: c.id in CLEAN)
    kept, report = filter_valid(clean, registry.task("asr"), OPTIONS)
    assert kept is clean and report.ok and report.checked == 2
    assert report.format() == "cuts (asr): 2 records checked, 0 bad"


def test_report_prints_the_first_problems_and_keeps_all_in_json(registry, asr_cuts):
    report = check_cuts(asr_cuts, registry.task("asr"), OPTIONS, manifest="m")
    lines = report.format(limit=3).splitlines()
    assert lines[0] == "m (asr): 11 records checked, 9 bad"
    assert lines[1].split()[:2] == ["missing", "audio"] and len(lines) == 5
    assert lines[-1] == "  ... and 5 more problems (--json OUT lists all)"
    data = report.to_json()
    assert data["checked"] == 11 and data["bad"] == 9 and len(data["problems"]) == 8
    assert {"id": "rate8k", "field": "audio", "reason": "sample rate 8000 Hz, expected 16000"} in data["problems"]


def test_validate_manifest_reads_the_file(registry, asr_cuts, tmp_path):
    path = tmp_path / "asr" / "train.jsonl.gz"
    path.parent.mkdir()
    asr_cuts.to_file(path)
    assert flagged(validate_manifest(path, registry.task("asr"), OPTIONS)).keys() == ASR_FAULTS.keys()
    with pytest.raises(DataError, match="nothing.jsonl.gz: file not found"):
        validate_manifest(tmp_path / "nothing.jsonl.gz", registry.task("asr"))


# -- laura validate -----------------------------------------------------------------------------


def test_cli_reports_bad_records_with_exit_status_1(asr_cuts, tmp_path):
    asr_cuts.to_file(tmp_path / "train.jsonl.gz")
    out = laura("validate", "train.jsonl.gz", "--task", "asr", "--json", "report.json",
                "sample_rates=[16000]", "max_duration=2", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "train.jsonl.gz (asr): 11 records checked, 9 bad"
    assert {tuple(line.split()[:2]) for line in lines[1:]} == ASR_FAULTS.keys()
    report = json.loads((tmp_path / "report.json").read_text())
    assert {(p["id"], p["field"]) for p in report["problems"]} == ASR_FAULTS.keys()


def test_cli_validates_several_manifests_in_one_call(asr_cuts, tmp_path, monkeypatch, capsys):
    asr_cuts.filter(lambda c: c.id in CLEAN).to_file(tmp_path / "clean.jsonl.gz")
    asr_cuts.to_file(tmp_path / "train.jsonl.gz")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "clean.jsonl.gz", "train.jsonl.gz", "--task", "asr", "--json", "r.json",
                 "sample_rates=[16000]", "max_duration=2"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "clean.jsonl.gz (asr): 2 records checked, 0 bad"
    assert lines[1] == "train.jsonl.gz (asr): 11 records checked, 9 bad"
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["clean.jsonl.gz"]["problems"] == []
    assert {(p["id"], p["field"]) for p in report["train.jsonl.gz"]["problems"]} == ASR_FAULTS.keys()


def test_cli_exit_status_0_when_clean_and_2_for_usage_errors(asr_cuts, tmp_path, monkeypatch, capsys):
    asr_cuts.filter(lambda c: c.id in CLEAN).to_file(tmp_path / "clean.jsonl.gz")
    out = laura("validate", "clean.jsonl.gz", "--task", "asr", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == "clean.jsonl.gz (asr): 2 records checked, 0 bad\n", out.stderr
    monkeypatch.chdir(tmp_path)
    cases = [
        (["clean.jsonl.gz", "--task", "nope"], "unknown task 'nope'"),
        (["clean.jsonl.gz", "--task", "asr", "max_durration=3"], "max_durration"),
        (["clean.jsonl.gz", "--task", "asr", "on_error=ignore"], "on_error"),
        (["absent.jsonl.gz", "--task", "asr"], "absent.jsonl.gz: file not found"),
    ]
    for args, message in cases:
        assert main(["validate", *args]) == 2, args
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("laura: error:") and message in lines[0], (args, lines)
    for args in (["clean.jsonl.gz"], ["clean.jsonl.gz", "--task", "asr", "--bogus"]):  # argparse's own usage errors
        with pytest.raises(SystemExit) as exit:
            main(["validate", *args])
        assert exit.value.code == 2
    assert "--task" in capsys.readouterr().err
    assert "exit status: 0 every record is valid, 1 some record is bad, 2 usage error" in laura("validate", "--help").stdout
