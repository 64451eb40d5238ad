"""egs/mini/local/baselines.py --vocoder: the test recordings' own first-group codes voiced by the vocoder
with their text, as `laura infer` voices what the LM says (the bound of any LM through that vocoder)."""
import shutil

import numpy as np
import soundfile as sf
import torch
import yaml

from laura_core.data.batches import text_ids
from laura_core.manifest import read_cuts
from laura_core.model.codec import load_codec
from laura_core.model.synthesis import synthesize
from laura_core.training.codec import load_vocoder
from tests.conftest import load_recipe_script
from tests.core.conftest import manifests


def test_the_vocoded_ceiling_voices_each_recordings_own_codes_with_its_text(setup, vocoder_dir, registry, tmp_path):
    baselines = load_recipe_script("egs/mini/local/baselines.py")
    values = yaml.safe_load(setup.read_text())
    codec_dir, spm = values["codec"]["path"], values["tokenizer"]["options"]["model"]
    data = tmp_path / "data"
    (data / "tts").mkdir(parents=True)
    shutil.copy(manifests(setup)["tts"], data / "tts" / "test.jsonl.gz")
    records = baselines.VocoderCeiling(codec_dir, str(vocoder_dir), spm, data, tmp_path / "out")("tts", "audio")

    cuts = list(read_cuts(data / "tts" / "test.jsonl.gz"))
    codec, identity = load_codec(codec_dir, registry)
    tokenizer = registry.create("tokenizer", "sentencepiece", model=spm)
    vocoder = load_vocoder(vocoder_dir, registry, identity, tokenizer.identity())
    for cut in cuts:
        path = records({"id": cut.id})["audio"]
        voiced, rate = sf.read(path, dtype="float32")
        wave = torch.from_numpy(cut.recording.load_audio()).mean(0)
        codes = codec.encode(wave[None, None], n_q=1)[0, 0].tolist()
        alone = synthesize(vocoder, codec, [codes], [text_ids(tokenizer, cut.supervisions[0].text)], [None])[0]
        assert rate == codec.sample_rate and len(voiced) == len(codes) * codec.hop_length
        np.testing.assert_allclose(voiced, alone, atol=1e-4)  # as voiced alone, whatever the batch
