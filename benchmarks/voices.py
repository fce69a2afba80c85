"""Voice cloning on this CPU with tiny Coqui models: `python -m benchmarks.voices`.

The tiny models (tests/coqui_models.py: XTTS-v2's and YourTTS's architectures,
shrunk, seeded weights) are written to a temporary folder and imported as a user
imports the published ones. For each it times, medians of --runs:

- loading through the registry (first `use`);
- the speaker latents of a real 8 s sample, computed, then from the cache;
- synthesis alone (`CloningModel.speak`), as a real-time factor: seconds of compute
  per second of audio;
- the whole `synthesize_cloned` (synthesis + alignment of the cloned speech to its
  text), as a real-time factor.

A tiny model's speed says little about the published ones (XTTS-v2 has a 30-layer,
1024-wide GPT): it measures what the studio adds around Coqui. Needs the optional
`coqui-tts` package.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

TEXT = "The quick brown fox jumps over the lazy dog. A second sentence follows the first one."


def _median(function, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sample", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "RD_Radio31_000.wav")
    args = parser.parse_args()

    import torch

    from avatar.models.registry import Registry
    from avatar.speech.cloned_voice import LATENTS, synthesize_cloned
    from avatar.speech.voice_sample import check_voice_sample
    from tests.coqui_models import write_tiny_xtts, write_tiny_your_tts

    torch.set_num_threads(2)
    sample = check_voice_sample(args.sample)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        registry = Registry(checkpoints=root / "checkpoints")
        for model_id, write, language in (("xtts-v2", write_tiny_xtts, "en"), ("your-tts", write_tiny_your_tts, "en")):
            registry.import_model(model_id, write(root / model_id))
            start = time.perf_counter()
            with registry.use(model_id) as model:
                load = time.perf_counter() - start
                encode, latents = _median(lambda: model.voice_latents(sample.samples, sample.sample_rate), args.runs)
                speak, audio = _median(lambda: model.speak(TEXT, language, latents, seed=0), args.runs)
            LATENTS.clear()
            synthesize_cloned(TEXT, sample, model_id=model_id, language=language, registry=registry)  # fills the cache
            cached, _ = _median(lambda: LATENTS.get((model_id, str(registry.require(model_id)), sample.sha256),
                                                    lambda: None), args.runs)
            whole, cloned = _median(lambda: synthesize_cloned(TEXT, sample, model_id=model_id, language=language,
                                                              registry=registry), args.runs)
            seconds = len(audio) / model.sample_rate
            rows.append((model_id, load, encode, cached, speak / seconds, whole / cloned.speech.duration,
                         cloned.method))
    print(f"tiny models, {torch.get_num_threads()} threads, sample {sample.name} ({sample.duration:.1f} s), "
          f"median of {args.runs}\n")
    print("| model | load s | latents s | latents cached s | synthesis RTF | synthesis + alignment RTF | mouth |")
    print("|---|---|---|---|---|---|---|")
    for model_id, load, encode, cached, speak_rtf, whole_rtf, method in rows:
        print(f"| tiny {model_id} | {load:.2f} | {encode:.3f} | {cached:.6f} | {speak_rtf:.3f} | {whole_rtf:.3f} | {method} |")


if __name__ == "__main__":
    main()
