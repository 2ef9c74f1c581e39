"""Option names and documented defaults of ``tuwen train|eval|finetune``; the learning-rate schedule."""
import pytest

from tuwen.trainer import cli
from tuwen.trainer.cli import eval_parser, train_parser
from tuwen.trainer.finetune import finetune_parser
from tuwen.trainer.train import lr_at


def test_train_defaults_are_the_documented_ones():
    a = train_parser().parse_args(["--data", "s/{000000..000001}.tar", "--output", "out"])
    assert (a.model, a.batch_size, a.seed, a.epochs) == ("tiny", 64, 0, 1.0)
    assert a.max_steps is None and a.time_budget is None and a.precision is None  # bf16 chosen at run time
    assert not a.distill and a.mlm is None and a.image_ssl is None
    assert a.grad_cache_chunk == 0 and a.resume is None and a.init is None


def _args_train_gets(monkeypatch, *argv):
    """The options ``tuwen train`` hands to the training loop (the loop itself replaced by a recorder)."""
    got = []
    monkeypatch.setattr("tuwen.trainer.train.train", lambda args: got.append(args) or 0)
    assert cli.train_main(["--data", "d", "--output", "o", *argv]) == 0
    return got[0]


def test_a_default_run_trains_with_the_measured_recipe(monkeypatch):
    a = _args_train_gets(monkeypatch)
    assert (a.caption_aug, a.image_aug, a.patch_dropout) == (0.3, 0.5, 0.5)


def test_patch_dropout_defaults_off_where_it_was_not_measured(monkeypatch):
    for argv in (["--model", "base"], ["--model", "small"], ["--init", "run"], ["--model", "base", "--init", "x.pt"]):
        a = _args_train_gets(monkeypatch, *argv)
        assert a.patch_dropout == 0.0, argv
        assert (a.caption_aug, a.image_aug) == (0.3, 0.5), argv  # the free parts of the recipe stay on
    assert _args_train_gets(monkeypatch, "--model", "base", "--patch-dropout", "0.25").patch_dropout == 0.25


def test_a_resumed_run_keeps_the_patch_dropout_it_started_with(monkeypatch, tmp_path):
    """An --init run (patch dropout off) resumed without --init stays off; a run from scratch stays on; a checkpoint
    whose train state predates the saved option goes by the --init it was started with."""
    import torch

    def resumed(saved_args, *argv):
        out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        (out / "checkpoints" / "step-5").mkdir(parents=True)
        torch.save({"step": 5, "args": saved_args}, out / "checkpoints" / "step-5" / "train_state.pt")
        got = []
        monkeypatch.setattr("tuwen.trainer.train.train", lambda args: got.append(args) or 0)
        assert cli.train_main(["--data", "d", "--output", str(out), "--resume", "auto", *argv]) == 0
        return got[0].patch_dropout

    assert resumed({"patch_dropout": 0.0, "init": "base.pt"}) == 0.0
    assert resumed({"patch_dropout": 0.5, "init": None}) == 0.5
    assert resumed({"init": "base.pt"}) == 0.0
    assert resumed({"patch_dropout": 0.0}, "--patch-dropout", "0.25") == 0.25  # given: as given
    assert _args_train_gets(monkeypatch, "--resume", "auto").patch_dropout == 0.5  # nothing to resume: a new run


def test_each_part_of_the_recipe_switches_off_with_0(monkeypatch):
    a = _args_train_gets(monkeypatch, "--caption-aug", "0", "--image-aug", "0", "--patch-dropout", "0")
    assert (a.caption_aug, a.image_aug, a.patch_dropout) == (0.0, 0.0, 0.0)
    a = _args_train_gets(monkeypatch, "--patch-dropout", "0")
    assert (a.caption_aug, a.image_aug, a.patch_dropout) == (0.3, 0.5, 0.0)


def test_help_says_each_recipe_default_and_how_to_turn_it_off():
    text = " ".join(train_parser().format_help().split())
    for flag, default in (("--caption-aug P", "(default: 0.3)"), ("--image-aug MIN_SCALE", "(default: 0.5)"),
                          ("--patch-dropout P", "Default: 0.5 for tiny from scratch")):
        part = text[text.index(flag + " "):]
        part = part[:part.index(" --", 1)]
        assert default in part and "0 = off" in part, part
    assert "(default: None)" not in text  # run-time defaults are described, not printed as None


def test_train_accepts_every_option_the_issue_names():
    argv = ["--data", "a.tar::b.tar", "--output", "o", "--model", "small", "--batch-size", "128", "--max-steps",
            "10", "--time-budget", "2.5", "--seed", "3", "--precision", "fp32", "--dropout", "0.1", "--workers", "2",
            "--grad-cache-chunk", "16", "--caption-aug", "0.3", "--distill", "--mlm", "--image-ssl",
            "--val-data", "v.jsonl", "--init", "x.pt", "--resume", "auto"]
    a = train_parser().parse_args(argv)
    assert a.mlm == 0.5 and a.image_ssl == 0.5 and a.distill and a.resume == "auto"
    assert train_parser().parse_args(["--data", "d", "--output", "o", "--mlm", "0.2"]).mlm == 0.2
    with pytest.raises(SystemExit):
        train_parser().parse_args(["--data", "d", "--output", "o", "--caption-aug", "1.5"])
    with pytest.raises(SystemExit):
        train_parser().parse_args(["--output", "o"])  # --data is required
    assert train_parser().parse_args(["--data", "d", "--output", "o", "--patch-dropout", "0.5"]).patch_dropout == 0.5
    with pytest.raises(SystemExit):
        train_parser().parse_args(["--data", "d", "--output", "o", "--patch-dropout", "1"])  # no patch left


def test_eval_and_finetune_options():
    e = eval_parser().parse_args(["--checkpoint", "run", "--data", "m.jsonl", "--json", "o.json", "--zero-shot",
                                  "labels.txt"])
    assert e.zero_shot == "labels.txt"
    f = finetune_parser().parse_args(["--checkpoint", "run", "--data", "m.jsonl", "--output", "o"])
    assert not f.train_tower


def test_lr_warms_up_then_follows_a_cosine_to_zero():
    assert lr_at(0.0, 0, 1.0, 4) == pytest.approx(0.25)
    assert lr_at(0.3, 3, 1.0, 4) == pytest.approx(1.0)
    assert lr_at(0.5, 50, 1.0, 4) == pytest.approx(0.5)
    assert lr_at(1.0, 100, 1.0, 4) == pytest.approx(0.0, abs=1e-12)
    # time-budget runs (no step count known): warm-up over the first 10% of the clock
    assert lr_at(0.05, 7, 1.0, None) == pytest.approx(0.5)
    assert lr_at(0.5, 70, 1.0, None) == pytest.approx(0.5)
