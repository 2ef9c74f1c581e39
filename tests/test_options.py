"""tuwen run's options (pipeline/options.py): each default comes from the config it configures, one method checks
them all with the line the user sees, and flags nobody knows are found without Beam's private parser."""

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tuwen.pipeline.options import TuwenOptions, help_parser, unknown_flags
from tuwen.pipeline.run import main
from tuwen.transforms.boilerplate import MiningThresholds
from tuwen.transforms.image import ImageConfig
from tuwen.transforms.safety import SafetyConfig
from tuwen.transforms.text_steps import TextStepsConfig


def options(*flags: str) -> TuwenOptions:
    return PipelineOptions(["--input=in.jsonl", "--output=out", *flags]).view_as(TuwenOptions)


def test_the_defaults_are_the_configs_own():
    opts = options()
    assert opts.image_config() == ImageConfig()
    assert opts.text_steps_config() == TextStepsConfig()
    assert opts.mining_thresholds() == MiningThresholds()
    assert opts.safety_threads == SafetyConfig.threads


def test_the_help_prints_the_defaults_of_the_configs():
    text = " ".join(help_parser().format_help().split())
    assert f"whose shorter side is below this (default: {ImageConfig.min_side})" in text
    assert f"larger than this (default: {ImageConfig.max_image_bytes})" in text
    assert f"(default: {','.join(TextStepsConfig.steps)})" in text
    assert f"characters as text_too_long (default: {TextStepsConfig.max_chars})" in text
    assert f"many documents (default: {MiningThresholds.min_doc_count})" in text


def test_the_options_reach_the_configs():
    opts = options("--min-side=64", "--max-aspect-ratio=3", "--jpeg-quality=80", "--max-side=512",
                   "--max-pixels=1000000", "--max-image-bytes=2048", "--reencode=always", "--max-text-chars=20",
                   "--text-steps=names", "--boilerplate-min-docs=3", "--boilerplate-min-distinct=0.25",
                   "--boilerplate-sample=99")
    assert opts.image_config() == ImageConfig(64, 3.0, 80, 512, 1_000_000, 2048, "always")
    assert opts.text_steps_config() == TextStepsConfig(steps=("names",), max_chars=20)
    assert opts.mining_thresholds() == MiningThresholds(sample_size=99, min_doc_count=3, min_distinct_share=0.25)


@pytest.mark.parametrize("flag, said", [
    ("--shard-size=0", "--shard-size must be positive"),
    ("--min-side=0", "--min-side must be positive"),
    ("--max-pixels=0", "--max-pixels must be positive"),
    ("--max-image-bytes=-1", "--max-image-bytes must be positive"),
    ("--max-text-chars=0", "--max-text-chars must be positive"),
    ("--max-aspect-ratio=0.5", "--max-aspect-ratio must be >= 1, --jpeg-quality in 1..100, --max-side >= 0"),
    ("--jpeg-quality=101", "--max-aspect-ratio must be >= 1, --jpeg-quality in 1..100, --max-side >= 0"),
    ("--max-side=-1", "--max-aspect-ratio must be >= 1, --jpeg-quality in 1..100, --max-side >= 0"),
    ("--text-steps=names,nope", "unknown text step(s) nope"),
    ("--boilerplate-min-docs=0", "--boilerplate-min-docs and --boilerplate-sample must be positive"),
    ("--boilerplate-min-distinct=1.5", "--boilerplate-min-distinct must be in 0..1"),
    ("--dedup=text-score", "--dedup text-score needs --scorer"),
    ("--write-embeddings", "--write-embeddings needs --scorer"),
    ("--nsfw-threshold=2", "--nsfw-threshold must be in 0..1"),
    ("--safety-threads=0", "--safety-threads must be positive"),
    ("--keep-image-text", "need the ocr check"),
    ("--safety-prompts=p.txt", "--safety-prompts needs the prompts check"),
    ("--safety-head=h.safetensors", "--safety-head needs --scorer"),
    ("--safety-head-threshold=0.5", "--safety-head-threshold needs --safety-head"),
    ("--dry_run=True", "it needs --runner=DataflowRunner"),
])
def test_validate_names_the_bad_option(flag, said):
    with pytest.raises(ValueError) as e:
        options(flag).validate()
    assert said in str(e.value)


@pytest.mark.parametrize("flags, said", [
    (("--scorer=s", "--scorer-batch-size=0"), "--scorer-batch-size and --scorer-threads must be positive"),
    (("--scorer=s", "--scorer-model-copies=0"), "--scorer-model-copies must be positive"),
    (("--scorer=s", "--scorer-device=cpu", "--scorer-precision=fp16"), "--scorer-precision fp16 needs CUDA"),
    (("--scorer=s", "--safety-head=h", "--safety-head-threshold=1.5"), "--safety-head-threshold must be in 0..1"),
])
def test_validate_checks_the_scorer_and_safety_combinations(flags, said):
    with pytest.raises(ValueError) as e:
        options(*flags).validate()
    assert said in str(e.value)


def test_validate_reads_no_file_and_passes_good_options(tmp_path):
    options().validate()
    options("--scorer=/nowhere", f"--safety-head={tmp_path}/missing.safetensors", "--image-safety=",
            "--runner=DataflowRunner", "--dry_run=True").validate()  # the head is read later, by safety_config()


def test_flags_nobody_knows_are_named_and_beam_options_pass():
    argv = ["--input=a", "--runner=DirectRunner", "--direct_num_workers", "2", "--direct_running_mode=multi_processing",
            "--project=p", "--temp_location=/t", "--bogus", "--min_side=3", "--text-step=names"]
    assert unknown_flags(argv) == ["--bogus", "--min_side=3", "--text-step=names"]  # no prefix matching
    with pytest.raises(SystemExit) as e:
        unknown_flags(["--shard-size=abc"])
    assert str(e.value) == "tuwen run: argument --shard-size: invalid int value: 'abc'"


def test_tuwen_run_refuses_an_unknown_option_with_one_line(tmp_path, capsys):
    assert main([f"--input={tmp_path}/m.jsonl", f"--output={tmp_path}/out", "--bogus"]) == 2
    assert capsys.readouterr().err.strip() == "tuwen run: unknown option --bogus (see tuwen run --help)"
    assert main([f"--input={tmp_path}/m.jsonl", f"--output={tmp_path}/out", "--jpeg-quality=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tuwen run: --max-aspect-ratio must be >= 1, --jpeg-quality in 1..100, --max-side >= 0"]
    assert not (tmp_path / "out").exists()
