import types

import pytest

from laura_core import hookimpl
from laura_core.errors import RegistryError
from laura_core.registry import Registry
from laura_core.task import Field, FieldType, Metric, Modality, Task, TaskScore

BUILTIN_TASKS = {"asr", "s2tt", "tts", "mt", "se", "aac", "ser", "slu"}


class Toy(Task):
    name = "toy"
    description = "toy task"
    input = Modality.TEXT
    output = Modality.TEXT
    source_field = "text"
    target_field = "label"
    ref_fields = (Field("text", FieldType.TEXT),)
    metrics = (Metric("accuracy", "accuracy", True, "fraction"),)

    def score(self, pairs, options, registry):
        return TaskScore({"accuracy": 1.0})


def plugin(name, tasks=(), components=()):
    mod = types.ModuleType(name)

    @hookimpl
    def register_tasks(register):
        for t in tasks:
            register(t)

    @hookimpl
    def register_components(register):
        for c in components:
            register(*c)

    mod.register_tasks, mod.register_components = register_tasks, register_components
    return mod


def test_installed_registry_has_the_eight_tasks_and_the_external_plugin(registry):
    tasks = registry.tasks()
    assert BUILTIN_TASKS <= set(tasks)
    assert "lid" in tasks  # from tests/plugin_pkg, through the entry-point group only
    entries = {(e.kind, e.name): e for e in registry.entries()}
    assert entries[("task", "asr")].distribution.startswith("laura-speech ")
    assert entries[("task", "lid")].distribution == "laura-example-plugin 0.0.1"
    assert entries[("judge", "pocketsphinx")].source == "pocketsphinx_judge"


def test_prompt_tokens_unique(registry):
    tokens = [t.prompt_token for t in registry.tasks().values()]
    assert len(tokens) == len(set(tokens))
    assert registry.task("asr").prompt_token == "<|asr|>"


def test_duplicate_task_names_both_sources():
    reg = Registry(autoload=False)
    reg.add_plugin(plugin("first_plugin", [Toy()]), name="first_plugin")
    reg.add_plugin(plugin("second_plugin", [Toy()]), name="second_plugin")
    with pytest.raises(RegistryError) as e:
        reg.tasks()
    assert "first_plugin" in str(e.value) and "second_plugin" in str(e.value) and "'toy'" in str(e.value)


def test_duplicate_component_names_both_sources():
    reg = Registry(autoload=False)
    reg.add_plugin(plugin("p1", components=[("judge", "same", dict)]), name="p1")
    reg.add_plugin(plugin("p2", components=[("judge", "same", dict)]), name="p2")
    with pytest.raises(RegistryError, match=r"judge 'same' is registered twice: by p1 .* and by p2"):
        reg.entries()


def test_same_name_different_kinds_is_fine_and_create_builds():
    reg = Registry(autoload=False)
    reg.add_plugin(plugin("p", components=[("judge", "x", dict), ("codec", "x", list)]), name="p")
    assert reg.create("judge", "x", a=1) == {"a": 1}
    assert set(reg.components("codec")) == {"x"}


@pytest.mark.parametrize(
    "component, message",
    [
        (("decoder", "x", dict), "unknown kind 'decoder'"),
        (("judge", "Bad-Name", dict), "must match"),
        (("judge", "x", 3), "not callable"),
    ],
)
def test_invalid_components_rejected(component, message):
    reg = Registry(autoload=False)
    reg.add_plugin(plugin("p", components=[component]), name="p")
    with pytest.raises(RegistryError, match=message):
        reg.entries()


def test_invalid_tasks_rejected():
    class BadModality(Toy):
        name = "bad"
        output = Modality.AUDIO  # audio output must be codec tokens

    reg = Registry(autoload=False)
    reg.add_plugin(plugin("p", [BadModality()]), name="p")
    with pytest.raises(RegistryError, match="output modality"):
        reg.tasks()

    reg = Registry(autoload=False)
    reg.add_plugin(plugin("p", ["not a task"]), name="p")
    with pytest.raises(RegistryError, match="not a laura_core.task.Task"):
        reg.tasks()


def test_ref_fields_the_default_reference_cannot_write_are_caught_at_registration():
    class Keyword(Toy):
        name = "keyword"
        ref_fields = (Field("keyword", FieldType.LABEL),)  # the default to_reference writes "text"

    reg = Registry(autoload=False)
    reg.add_plugin(plugin("p", [Keyword()]), name="p")
    with pytest.raises(RegistryError, match=r"task keyword: ref_fields \['keyword'\] are not what the default "
                                            r"to_reference writes \(\['text'\]\): declare ref_fields=\('text',\) or "
                                            r"override to_reference to write \['keyword'\]"):
        reg.tasks()

    class KeywordWithItsReference(Keyword):
        def to_reference(self, record):
            return {"id": record["id"], "keyword": record["label"]}

    reg = Registry(autoload=False)
    reg.add_plugin(plugin("p", [KeywordWithItsReference()]), name="p")
    assert "keyword" in reg.tasks()


def test_prompt_token_collision_rejected():
    class Other(Toy):
        name = "other"

        @property
        def prompt_token(self):
            return "<|toy|>"

    reg = Registry(autoload=False)
    reg.add_plugin(plugin("p", [Toy(), Other()]), name="p")
    with pytest.raises(RegistryError, match="prompt token '<\\|toy\\|>'"):
        reg.tasks()


def test_unknown_names_list_what_exists():
    reg = Registry(autoload=False)
    reg.add_plugin(plugin("p", [Toy()]), name="p")
    with pytest.raises(RegistryError, match="unknown task 'nope'; registered tasks: toy"):
        reg.task("nope")
    with pytest.raises(RegistryError, match="unknown judge 'nope'"):
        reg.create("judge", "nope")
