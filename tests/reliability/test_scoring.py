"""`laura score` names the file, line and record of what it cannot read, in one line."""
import json

import numpy as np
import soundfile as sf

from laura_core.cli import main


def test_a_non_utf8_byte_names_file_line_and_byte(tmp_path, capsys):
    ref, hyp = tmp_path / "ref.jsonl", tmp_path / "hyp.jsonl"
    ref.write_text('{"id": "a", "text": "hello"}\n{"id": "b", "text": "world"}\n')
    hyp.write_bytes(b'{"id": "a", "text": "hello"}\n{"id": "b", "text": "w\xffrld"}\n')
    assert main(["score", "--task", "asr", "--ref", str(ref), "--hyp", str(hyp)]) == 2
    err = capsys.readouterr().err
    assert err == f"laura: error: {hyp}:2: not UTF-8 (byte 0xff at column 23)\n"


def test_an_unreadable_audio_output_names_the_jsonl_line_and_record(tmp_path, capsys):
    (tmp_path / "wav").mkdir()
    (tmp_path / "wav" / "u1.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    ref, hyp = tmp_path / "ref.jsonl", tmp_path / "hyp.jsonl"
    sf.write(tmp_path / "ref.wav", np.zeros(16000, dtype=np.float32), 16000)
    ref.write_text(json.dumps({"id": "u1", "text": "hello there", "audio": "ref.wav"}) + "\n")
    hyp.write_text(json.dumps({"id": "u1", "audio": "wav/u1.wav"}) + "\n")
    assert main(["score", "--task", "tts", "--ref", str(ref), "--hyp", str(hyp)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"laura: error: {hyp}:1: record 'u1', field 'audio': cannot read {tmp_path / 'wav' / 'u1.wav'} (")
    assert len(err.splitlines()) == 1


def test_a_non_utf8_manifest_names_file_line_and_byte(tmp_path, capsys):
    import gzip

    path = tmp_path / "bad.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write(b'{"id": "a", "start": 0, "duration": 1.0, "channel": 0, "type": "MonoCut"}\n{"id": "b\xff"}\n')
    assert main(["validate", str(path), "--task", "mt"]) == 2
    assert capsys.readouterr().err == f"laura: error: {path}: line 2: not UTF-8 (byte 0xff at column 10)\n"
