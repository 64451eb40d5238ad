import gzip
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import sentencepiece as spm
import tokenizers
from omegaconf import OmegaConf
from tokenizers import decoders, models, pre_tokenizers, processors, trainers

from laura_core.data.corpus import iter_texts
from laura_core.errors import ConfigError, DataError
from laura_plugins.tokenizers.hf import HFTokenizer, HFTokenizerConfig
from laura_plugins.tokenizers.sentencepiece import SentencePieceConfig, SentencePieceTokenizer
from tests.conftest import write_jsonl, write_wav

SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.",
    "What joy there is in living!",
    "El perro corre por el parque cada mañana.",
    "¿Dónde está la estación de tren?",
    "Mi hermana estudia música en la universidad.",
    "La niña comió una manzana roja.",
    "¡Qué día tan bonito hace hoy!",
    "Los niños juegan al fútbol después de clase.",
    "El café de Colombia es muy famoso.",
    "Necesito comprar pan, leche y huevos.",
    "La canción suena en la radio todo el día.",
    "Vivimos cerca del río desde hace diez años.",
]


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory):
    return SentencePieceTokenizer.train(SENTENCES, tmp_path_factory.mktemp("sp"), vocab_size=80)


# -- sentencepiece ------------------------------------------------------------------------------


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_round_trips_every_training_sentence(tmp_path, model_type):
    path = SentencePieceTokenizer.train(SENTENCES, tmp_path, vocab_size=80, model_type=model_type)
    tok = SentencePieceTokenizer(SentencePieceConfig(model=str(path)))
    proc = spm.SentencePieceProcessor(model_file=str(path))
    assert tok.vocab_size == proc.get_piece_size() <= 80
    # The layout owns special tokens: only <unk> is in the model.
    assert (proc.unk_id(), proc.bos_id(), proc.eos_id(), proc.pad_id()) == (0, -1, -1, -1)
    batch = tok.encode_batch(SENTENCES)
    for sentence, ids in zip(SENTENCES, batch):
        assert ids == tok.encode(sentence) == proc.encode(sentence)
        assert all(0 <= i < tok.vocab_size for i in ids)
        assert 0 not in ids  # every character was seen in training
        assert tok.decode(ids) == sentence


def test_sentencepiece_training_is_deterministic(tmp_path, sp_model):
    again = SentencePieceTokenizer.train(SENTENCES, tmp_path / "again", vocab_size=80)
    assert again.read_bytes() == sp_model.read_bytes()
    first, second = (SentencePieceTokenizer(SentencePieceConfig(model=str(p))) for p in (sp_model, again))
    assert first.identity() == second.identity()
    # A fresh process writes the same bytes: no process state (the random seed) leaks into the file.
    script = (
        "import sys; from laura_plugins.tokenizers.sentencepiece import SentencePieceTokenizer as T; "
        "T.train(sys.argv[2:], sys.argv[1], vocab_size=80)"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "process"), *SENTENCES], check=True)
    assert (tmp_path / "process" / "tokenizer.model").read_bytes() == sp_model.read_bytes()
    other = SentencePieceTokenizer.train(SENTENCES, tmp_path / "other", vocab_size=70)
    assert SentencePieceTokenizer(SentencePieceConfig(model=str(other))).identity() != first.identity()


def test_sentencepiece_identity_and_summary(sp_model):
    tok = SentencePieceTokenizer(SentencePieceConfig(model=str(sp_model)))
    digest = hashlib.sha256(sp_model.read_bytes()).hexdigest()[:16]
    assert tok.identity() == f"sentencepiece:tokenizer.model:{digest}"
    summary = OmegaConf.to_container(OmegaConf.load(sp_model.parent / "tokenizer.yaml"))
    assert summary["identity"] == tok.identity()
    assert summary["vocab_size"] == tok.vocab_size
    assert summary["sentences"] == len(SENTENCES)
    assert summary["settings"]["vocab_size"] == 80
    assert summary["settings"]["model_type"] == "unigram"
    assert sorted(p.name for p in sp_model.parent.iterdir()) == ["tokenizer.model", "tokenizer.yaml"]


def test_sentencepiece_never_emits_its_unknown_and_control_pieces(sp_model, tmp_path):
    tok = SentencePieceTokenizer(SentencePieceConfig(model=str(sp_model)))
    assert tok.never_emitted() == [0] and tok.decode([0]).strip() == "\u2047"  # <unk>, shown as ⁇
    spm = pytest.importorskip("sentencepiece")
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SENTENCES), model_prefix=str(tmp_path / "ctl"),
                                   vocab_size=80, bos_id=1, eos_id=2, unk_id=0, pad_id=3,
                                   control_symbols=["<sep>"], minloglevel=2)
    with_controls = SentencePieceTokenizer(SentencePieceConfig(model=str(tmp_path / "ctl.model")))
    assert with_controls.never_emitted() == [0, 1, 2, 3, 4]


def test_sentencepiece_decode_refuses_ids_outside_the_text_range(sp_model):
    tok = SentencePieceTokenizer(SentencePieceConfig(model=str(sp_model)))
    assert tok.decode(np.array(tok.encode("the sea"))) == "the sea"
    for bad in (tok.vocab_size, tok.vocab_size + 7, -1):
        with pytest.raises(ValueError, match=rf"\[{bad}\] are outside the text range \[0, {tok.vocab_size}\)"):
            tok.decode([5, bad])


def test_sentencepiece_byte_fallback_spells_unseen_characters(tmp_path):
    path = SentencePieceTokenizer.train(SENTENCES, tmp_path, vocab_size=400, byte_fallback=True)
    tok = SentencePieceTokenizer(SentencePieceConfig(model=str(path)))
    ids = tok.encode("Smørrebrød 日本")
    assert 0 not in ids
    assert tok.decode(ids) == "Smørrebrød 日本"


def test_sentencepiece_training_without_text_is_an_error(tmp_path):
    for texts in ([], ["", "  ", "\n"]):
        with pytest.raises(DataError, match="no training text"):
            SentencePieceTokenizer.train(texts, tmp_path, vocab_size=50)
    assert not (tmp_path / "tokenizer.model").exists()


def test_a_vocabulary_too_small_for_the_characters_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"vocab size 260 is below the \d+ pieces the text's characters need "
                                          r"\(256 of them bytes\): raise --vocab-size"):
        SentencePieceTokenizer.train(SENTENCES, tmp_path, vocab_size=260, byte_fallback=True)


def test_without_text_byte_fallback_gives_a_byte_level_tokenizer(tmp_path):
    """Tasks with no text at all (se alone) still need a text range."""
    path = SentencePieceTokenizer.train(["", " "], tmp_path, vocab_size=400, byte_fallback=True)
    tok = SentencePieceTokenizer(SentencePieceConfig(model=str(path)))
    assert 256 < tok.vocab_size <= 400
    for text in ("Hello, world 42!", "Smørrebrød 日本"):
        assert 0 not in tok.encode(text) and tok.decode(tok.encode(text)) == text


def test_sentencepiece_training_keeps_the_readers_error(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{"text": "hello there"}, {"id": "u2"}])
    with pytest.raises(DataError, match=r"train\.jsonl:2: no text in field\(s\) text"):
        SentencePieceTokenizer.train(iter_texts(path), tmp_path / "out", vocab_size=50)


def test_sentencepiece_missing_or_invalid_model_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        SentencePieceTokenizer(SentencePieceConfig(model=str(tmp_path / "none.model")))
    (tmp_path / "bad.model").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a SentencePiece model"):
        SentencePieceTokenizer(SentencePieceConfig(model=str(tmp_path / "bad.model")))


# -- hf -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf_file(tmp_path_factory):
    """A byte-level BPE like Qwen2.5's, with added special tokens and a post-processor that would add one."""
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(SENTENCES, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", tok.token_to_id("<|endoftext|>"))]
    )
    tok.add_tokens(["<|added|>"])
    path = tmp_path_factory.mktemp("hf") / "tokenizer.json"
    tok.save(str(path))
    return path


def test_hf_tokenizer_matches_tokenizers_from_file_or_directory(hf_file):
    direct = tokenizers.Tokenizer.from_file(str(hf_file))
    for where in (hf_file, hf_file.parent):
        tok = HFTokenizer(HFTokenizerConfig(path=str(where)))
        assert tok.vocab_size == direct.get_vocab_size(with_added_tokens=True)
        texts = SENTENCES + ["<|im_start|>hola<|im_end|>", "Smørrebrød 日本"]
        for text, ids in zip(texts, tok.encode_batch(texts)):
            assert ids == tok.encode(text) == direct.encode(text, add_special_tokens=False).ids
            assert all(0 <= i < tok.vocab_size for i in ids)
            assert tok.decode(ids) == text


def test_hf_tokenizer_text_range_covers_its_added_tokens(hf_file):
    tok = HFTokenizer(HFTokenizerConfig(path=str(hf_file)))
    direct = tokenizers.Tokenizer.from_file(str(hf_file))
    assert tok.vocab_size - 1 == direct.token_to_id("<|added|>")
    assert tok.encode("<|added|>") == [tok.vocab_size - 1]
    assert tok.decode([direct.token_to_id("<|endoftext|>")]) == "<|endoftext|>"  # nothing is skipped


def test_hf_tokenizer_never_emits_its_special_tokens(hf_file):
    tok = HFTokenizer(HFTokenizerConfig(path=str(hf_file)))
    direct = tokenizers.Tokenizer.from_file(str(hf_file))
    specials = [direct.token_to_id(t) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")]
    assert tok.never_emitted() == sorted(specials)  # "<|added|>" is an ordinary added token


def test_hf_tokenizer_identity_and_errors(hf_file, tmp_path):
    tok = HFTokenizer(HFTokenizerConfig(path=str(hf_file.parent)))
    assert tok.identity() == f"hf:tokenizer.json:{hashlib.sha256(hf_file.read_bytes()).hexdigest()[:16]}"
    with pytest.raises(ValueError, match="outside the text range"):
        tok.decode([tok.vocab_size])
    with pytest.raises(ConfigError, match="file not found"):
        HFTokenizer(HFTokenizerConfig(path=str(tmp_path)))
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a tokenizers JSON file"):
        HFTokenizer(HFTokenizerConfig(path=str(tmp_path)))


# -- registry -----------------------------------------------------------------------------------


def test_registry_builds_both_tokenizers(registry, sp_model, hf_file):
    sp = registry.create("tokenizer", "sentencepiece", model=str(sp_model))
    assert isinstance(sp, SentencePieceTokenizer)
    assert sp.decode(sp.encode(SENTENCES[0])) == SENTENCES[0]
    hf = registry.create("tokenizer", "hf", path=str(hf_file.parent))
    assert isinstance(hf, HFTokenizer)
    # The core trains through the registered factory, without importing plugins.
    assert registry.component("tokenizer", "sentencepiece").obj.train == SentencePieceTokenizer.train


def test_registry_config_errors_name_the_key(registry, sp_model):
    with pytest.raises(ConfigError, match="vocab"):
        registry.create("tokenizer", "sentencepiece", model=str(sp_model), vocab=5)
    with pytest.raises(ConfigError, match="model"):
        registry.create("tokenizer", "sentencepiece")


# -- training text ------------------------------------------------------------------------------


def test_iter_texts_jsonl_with_lists_and_missing_fields(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", [
        {"id": "u1", "text": "hello world", "translation": "hola mundo"},
        {"id": "u2", "text": ["first choice", "second choice"]},
        {"id": "u3", "label": "neutral"},
        {"id": "u4", "text": ""},
        {"id": "u5", "translation": "sólo traducción"},
    ])
    with pytest.raises(DataError, match=r"data\.jsonl:3: no text in field\(s\) text"):
        list(iter_texts(path))
    missing: list[str] = []
    assert list(iter_texts(path, missing=missing)) == ["hello world", "first choice", "second choice"]
    assert missing == [f"{path}:3", f"{path}:4", f"{path}:5"]
    missing.clear()
    texts = list(iter_texts(path, fields=("text", "translation"), missing=missing))
    assert texts == ["hello world", "hola mundo", "first choice", "second choice", "sólo traducción"]
    assert missing == [f"{path}:3", f"{path}:4"]


def test_iter_texts_rejects_non_text_values(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", [{"text": 3}])
    with pytest.raises(DataError, match=r"data\.jsonl:1: field 'text' must hold text"):
        list(iter_texts(path))


def test_iter_texts_lhotse_manifests(tmp_path):
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    recordings = RecordingSet.from_recordings(
        Recording.from_file(write_wav(tmp_path / f"{name}.wav", np.zeros(1600)), recording_id=name)
        for name in ("a", "b", "c")
    )
    supervisions = SupervisionSet.from_segments([
        SupervisionSegment("a1", "a", 0.0, 0.05, text="good morning", custom={"translation": "buenos días"}),
        SupervisionSegment("a2", "a", 0.05, 0.05, text="good night"),
        SupervisionSegment("b1", "b", 0.0, 0.1, text="see you soon"),
    ])
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    silent_cut = next(c.id for c in cuts if c.recording_id == "c")
    edit = {"b": lambda c: c.pad(duration=0.2), "c": lambda c: c.with_custom("caption", "a quiet room")}
    cuts = CutSet.from_cuts(edit.get(c.recording_id, lambda c: c)(c) for c in cuts)
    cut_path = tmp_path / "cuts.jsonl.gz"
    cuts.to_file(cut_path)
    assert [json.loads(line)["type"] for line in gzip.open(cut_path, "rt")] == ["MonoCut", "MixedCut", "MonoCut"]

    with pytest.raises(DataError, match="no text"):  # cut "c" has no supervision
        list(iter_texts(cut_path))
    missing: list[str] = []
    assert sorted(iter_texts(cut_path, missing=missing)) == ["good morning", "good night", "see you soon"]
    assert missing == [f"{cut_path}: {silent_cut}"]
    texts = sorted(iter_texts(cut_path, fields=("text", "translation", "caption")))
    assert texts == ["a quiet room", "buenos días", "good morning", "good night", "see you soon"]

    sup_path = tmp_path / "supervisions.jsonl"
    supervisions.to_file(sup_path)
    missing = []
    assert list(iter_texts(sup_path, fields=("translation",), missing=missing)) == ["buenos días"]
    assert missing == [f"{sup_path}: a2", f"{sup_path}: b1"]


def test_iter_texts_plain_text(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("first line\n\n  second line  \nthird line", encoding="utf-8")
    assert list(iter_texts(path)) == ["first line", "second line", "third line"]
    with pytest.raises(DataError, match="file not found"):
        list(iter_texts(tmp_path / "none.txt"))


def test_iter_texts_feeds_training(tmp_path, sp_model):
    path = write_jsonl(tmp_path / "train.jsonl", [{"text": s} for s in SENTENCES])
    model = SentencePieceTokenizer.train(iter_texts(path), tmp_path / "out", vocab_size=80)
    assert model.read_bytes() == sp_model.read_bytes()
