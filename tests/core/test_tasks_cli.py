"""`laura tasks`: every registered task's contract, plugin tasks included, from the task objects."""
import json

from laura_core.cli import main


def test_tasks_lists_every_registered_task_with_modalities_and_metrics(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "slu   <|slu|>   audio -> text    intent_accuracy, slu_f1, exact_match" in out
    assert "lid" in out  # the third-party plugin package's task


def test_show_names_fields_where_they_live_examples_metrics_and_options(capsys):
    assert main(["tasks", "show", "slu"]) == 0
    out = capsys.readouterr().out
    assert "intent         label  cut.custom['intent']" in out and "audio          audio  cut.recording" in out
    ref_line = out.split("reference record")[1].splitlines()[1].strip()
    assert json.loads(ref_line) == {"id": "utt1", "intent": "label", "slots": [{"type": "date", "filler": "tomorrow"}]}
    assert "slu_f1               higher  fraction" in out
    assert main(["tasks", "show", "asr"]) == 0
    out = capsys.readouterr().out
    assert "text           text   cut.supervisions[0].text" in out
    assert "wer                  lower   fraction" in out and "cer_ignore_spaces = false" in out
    assert 'normalizer.unicode_form = "NFKC"' in out


def test_an_unknown_task_is_one_line_listing_the_known(capsys):
    assert main(["tasks", "show", "nosuch"]) == 2
    assert "unknown task 'nosuch'; registered tasks: aac, asr" in capsys.readouterr().err
