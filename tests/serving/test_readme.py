"""The README's Python example runs as written (on the test model: its paths replaced)."""
import re
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"


def test_the_readmes_three_line_example(served, monkeypatch, capsys):
    section = README.read_text().split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) == 3
    assert '"exp/mini/lm"' in code and '"data/mini/audio/asterisk/en/vm-enter-num-to-call.wav"' in code
    code = code.replace('"exp/mini/lm"', repr(str(served.exp_dir)))
    code = code.replace('"data/mini/audio/asterisk/en/vm-enter-num-to-call.wav"', repr(str(served.wavs[0])))
    exec(compile(code, str(README), "exec"), {})
    printed = capsys.readouterr().out
    assert printed.endswith("\n") and printed.count("\n") == 1
