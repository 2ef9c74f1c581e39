"""tuwen's trainer against open_clip's own trainer: same tiny model, same data, same wall clock, evaluated by the same
``tuwen eval``.

- Data: Flickr8k-CN as pipeline-format shards (bench/train_make_shards.py): 2,000 train images / ~10,000 caption pairs;
  500 val images / ~2,500 captions for recall.
- open_clip: ``python -m open_clip_train.main`` run from its own venv (bench/_work/openclip-venv: transformers and
  pandas installed there, torch/open_clip/webdataset 0.2.86 shared with the project venv through a .pth, because the
  registry's torch wheel is a multi-GB CUDA build), given tuwen's tiny config through ``--model local-dir:DIR``
  (ViT image tower with QuickGELU, a Hugging Face BERT text tower of the same shape with CLS pooling and a linear
  projection, cn_clip's vocab). It has no time budget, so its epoch is sized to the wall clock: a short calibration
  run measures its samples/s, then ``--train-num-samples`` = rate x budget (one epoch, so its cosine schedule ends on
  time).
  The calibration is redone before every run, because the machine is shared and its speed varies.
- tuwen: ``tuwen train --time-budget M`` with M = the wall clock open_clip's whole command really took (less tuwen's
  ~5 s of imports, which run before its budget clock starts), so both commands get the same wall clock even when
  other work slowed one of them; its schedule follows the clock.
- Both: global batch 64, bf16 autocast, wd 0.1, one loader worker, the same seeds and the same peak learning rate
  (``--lr``, 2e-4: at open_clip's usual 5e-4 both trainers' tiny towers collapse to near-constant embeddings for
  minutes on this data, measured). tuwen runs at its own defaults, which for tiny from scratch are its quality
  recipe (``tuwen train --help``: the machine-translated caption part of the time, a random square crop, and FLIP's
  patch dropout, which makes each training step cheaper, so tuwen's samples/s with it is not a figure of the trainer
  alone; evaluation always sees every patch); ``--recipe`` adds tuwen flags on top. open_clip keeps its own default
  augmentation (random resized crop, scale 0.9-1) and its config without patch dropout (its model config has a
  ``patch_dropout`` field; the comparison is against open_clip's trainer as users run it by default).
  ``--plain-too`` also runs tuwen with each part of the recipe switched off (plain contrastive training, the run
  the speed goal is about).

Prints samples/s (training loop, and whole command), mean recall mean +- sd per trainer, and the ratios.

    .venv/bin/python bench/train_vs_open_clip.py --minutes 10 --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / "_work"
PY = REPO / ".venv" / "bin" / "python"
TUWEN_IMPORT_S = 5.0  # torch + open_clip imports before `tuwen train` starts its --time-budget clock
OC_VENV = WORK / "openclip-venv"
OFF_BUDGET = 0.2  # open_clip's whole command this far off the planned wall clock: a warning (the load changed)
PLAIN_FLAGS = ("--caption-aug", "0", "--image-aug", "0", "--patch-dropout", "0")  # tuwen's recipe, each part off


def sh(cmd, log: Path | None = None, env=None) -> float:
    """Run a command, tee nothing, return wall seconds; raise on failure with the log tail."""
    print("$ " + " ".join(shlex.quote(str(c)) for c in cmd), flush=True)
    t = time.time()
    with open(log or os.devnull, "w") as f:
        r = subprocess.run([str(c) for c in cmd], stdout=f, stderr=subprocess.STDOUT, env=env)
    wall = time.time() - t
    if r.returncode:
        tail = Path(log).read_text()[-3000:] if log else ""
        raise SystemExit(f"command failed ({r.returncode}):\n{tail}")
    return wall


def ensure_openclip_venv() -> Path:
    py = OC_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(OC_VENV)], check=True)
        site = next((OC_VENV / "lib").glob("python3*/site-packages"))
        main_site = next((REPO / ".venv" / "lib").glob("python3*/site-packages"))
        # addsitedir (not a bare path) so the project venv's own .pth files (the editable tuwen) apply too;
        # it appends, so this venv's packages win.
        (site / "zz_main_venv.pth").write_text(f"import site; site.addsitedir({str(main_site)!r})\n")
        subprocess.run([str(py), "-m", "pip", "install", "-q", "transformers==4.57.1", "pandas==2.3.3"], check=True)
    return py


def write_open_clip_model_dir(out: Path, model: str = "tiny") -> Path:
    """open_clip_config.json + a local HF BERT config and tokenizer, shaped as tuwen's variant."""
    sys.path.insert(0, str(REPO))
    from tuwen.trainer.model import model_config
    from tuwen.trainer.tokenizer import shipped_vocab_path

    cfg = model_config(model)
    v, t = cfg["vision"], cfg["text"]
    bert = out / "bert"
    bert.mkdir(parents=True, exist_ok=True)
    (bert / "config.json").write_text(json.dumps({
        "model_type": "bert", "architectures": ["BertModel"], "vocab_size": t["vocab_size"],
        "hidden_size": t["hidden_size"], "num_hidden_layers": t["layers"], "num_attention_heads": t["heads"],
        "intermediate_size": t["intermediate_size"], "max_position_embeddings": t["max_position_embeddings"],
        "type_vocab_size": t["type_vocab_size"], "hidden_dropout_prob": t["hidden_dropout"],
        "attention_probs_dropout_prob": t["attention_dropout"], "hidden_act": "gelu", "layer_norm_eps": 1e-12,
        "pad_token_id": 0, "initializer_range": 0.02}, indent=1))
    shutil.copy(shipped_vocab_path(), bert / "vocab.txt")
    (bert / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": t["context_length"]}))
    oc = {"model_cfg": {
        "embed_dim": cfg["embed_dim"], "quick_gelu": True,
        "vision_cfg": {"image_size": v["image_size"], "layers": v["layers"], "width": v["width"],
                       "patch_size": v["patch_size"], "head_width": v["width"] // v["heads"],
                       "mlp_ratio": v["mlp_ratio"]},
        "text_cfg": {"hf_model_name": str(bert), "hf_tokenizer_name": str(bert), "hf_model_pretrained": False,
                     "hf_proj_type": "linear", "hf_pooler_type": "cls_last_hidden_state_pooler",
                     "context_length": t["context_length"]}},
        "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
                           "interpolation": "bicubic", "resize_mode": "shortest"}}
    (out / "open_clip_config.json").write_text(json.dumps(oc, indent=1))
    # With local-dir:, open_clip reads the tokenizer from the model folder itself.
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(bert / name, out / name)
    return out


def write_random_bert_weights(oc_py, model_dir: Path, seed: int, env) -> None:
    """open_clip's factory always asks transformers for *pretrained* text weights when a config names an HF model,
    and offers no flag against it; so give it a freshly, randomly initialised BERT (HF's own init, seeded)."""
    code = ("import sys, torch; from transformers import BertConfig, BertModel; torch.manual_seed(int(sys.argv[2])); "
            "BertModel(BertConfig.from_pretrained(sys.argv[1]), add_pooling_layer=False).save_pretrained(sys.argv[1])")
    subprocess.run([str(oc_py), "-c", code, str(model_dir / "bert"), str(seed)], check=True, env=env)


def open_clip_cmd(py, model_dir, train_spec, logs, name, seed, num_samples, batch, lr, warmup, log_every=10):
    return [py, "-m", "open_clip_train.main", "--model", f"local-dir:{model_dir}", "--train-data", train_spec,
            "--dataset-type", "webdataset", "--train-num-samples", str(num_samples), "--batch-size", str(batch),
            "--epochs", "1", "--lr", str(lr), "--wd", "0.1", "--warmup", str(warmup), "--precision", "amp_bf16",
            "--workers", "1", "--device", "cpu", "--logs", str(logs), "--name", name, "--seed", str(seed),
            "--save-frequency", "1", "--log-every-n-steps", str(log_every), "--report-to", ""]


def open_clip_batch_times(log: Path) -> list[float]:
    """open_clip logs the mean batch time since its previous log line ("Batch (t): 4.948")."""
    return [float(m) for m in re.findall(r"Batch \(t\): ([0-9.]+)", log.read_text())]


def open_clip_rate(log: Path, batch: int = 64) -> float:
    """Training-loop samples/s: batch / mean logged batch time, leaving out the first line (first step's set-up)."""
    times = open_clip_batch_times(log)
    times = times[1:] or times
    return batch / statistics.mean(times) if times else float("nan")


def tuwen_rate(run: Path) -> float:
    """Training-loop samples/s: samples over time from the end of step 1 (its set-up left out) to the last log line.
    Not the mean of the logged rates, which a load that comes and goes skews towards the fast stretches."""
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    rows = [r for r in rows if "samples_per_s" in r]
    if len(rows) < 2:
        return float("nan")
    return (rows[-1]["samples"] - rows[0]["samples"]) / (rows[-1]["elapsed_s"] - rows[0]["elapsed_s"])


def evaluate(checkpoint: Path, val_spec: str, out: Path) -> dict:
    sh([PY, "-m", "tuwen.cli", "eval", "--checkpoint", checkpoint, "--data", val_spec, "--json", out],
       out.with_suffix(".log"))
    return json.loads(out.read_text())


def mean_sd(xs):
    return (statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="wall clock per training run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--shards", type=Path, default=WORK / "flickr_shards")
    p.add_argument("--work", type=Path, default=WORK / "train_vs_open_clip")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4, help="peak learning rate of both trainers")
    p.add_argument("--recipe", default="",
                   help="extra tuwen train flags (default: none, tuwen at its defaults)")
    p.add_argument("--plain-too", action="store_true",
                   help="also run tuwen with " + " ".join(PLAIN_FLAGS) + " (plain contrastive training: the speed "
                   "figure, since the default patch dropout changes the compute per sample)")
    args = p.parse_args(argv)

    print("command: " + " ".join(shlex.quote(a) for a in [str(PY), *sys.argv]), flush=True)
    if not (args.shards / "train" / "sizes.json").is_file():
        sh([PY, REPO / "bench" / "train_make_shards.py", "--out", args.shards])
    n_train = len(list((args.shards / "train").glob("*.tar")))
    n_val = len(list((args.shards / "val").glob("*.tar")))
    train_spec = f"{args.shards}/train/{{000000..{n_train - 1:06d}}}.tar"
    val_spec = f"{args.shards}/val/{{000000..{n_val - 1:06d}}}.tar"
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    oc_py = ensure_openclip_venv()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    model_dirs = {}
    for seed in args.seeds:
        model_dirs[seed] = write_open_clip_model_dir(work / f"open_clip_tiny_seed{seed}")
        write_random_bert_weights(oc_py, model_dirs[seed], seed, env)
    budget_s = args.minutes * 60

    logs = work / "oc_logs"

    def calibrate(seed: int) -> int:
        """open_clip's loop speed and fixed start-up cost right now (the machine is shared, so this is redone
        before every run) -> the samples its one epoch gets so that the whole command takes the budget."""
        calib_steps = 12
        shutil.rmtree(logs / "calib", ignore_errors=True)
        wall = sh(open_clip_cmd(oc_py, model_dirs[seed], train_spec, logs, "calib", seed,
                                calib_steps * args.batch_size, args.batch_size, args.lr, 2, log_every=1),
                  work / "calib.log", env)
        times = open_clip_batch_times(logs / "calib" / "out.log")
        rate = open_clip_rate(logs / "calib" / "out.log", args.batch_size)
        startup = max(0.0, wall - sum(times))  # imports, model and loader set-up, checkpoint save
        n = max(args.batch_size, int((budget_s - startup) * rate) // args.batch_size * args.batch_size)
        print(f"open_clip calibration: {rate:.1f} samples/s, start-up+save {startup:.0f} s -> {n} samples "
              f"in {args.minutes} min", flush=True)
        return n

    results: dict[str, list] = {"open_clip": [], "tuwen": [], "tuwen_plain": []}
    for seed in args.seeds:
        name = f"seed{seed}"
        shutil.rmtree(logs / name, ignore_errors=True)
        oc_samples = calibrate(seed)
        warm = max(1, oc_samples // args.batch_size // 10)
        wall = sh(open_clip_cmd(oc_py, model_dirs[seed], train_spec, logs, name, seed, oc_samples, args.batch_size,
                                args.lr, warm), work / f"open_clip-{name}.log", env)
        if abs(wall - budget_s) > OFF_BUDGET * budget_s:
            print(f"WARNING: open_clip's command took {wall:.0f} s of the planned {budget_s:.0f} s: the machine's load "
                  "changed between its calibration and its run, so both trainers got that wall clock instead; rerun "
                  "on a quieter machine for the planned figure", flush=True)
        shutil.copy(model_dirs[seed] / "open_clip_config.json", logs / name / "open_clip_config.json")
        ev = evaluate(logs / name / "checkpoints" / "epoch_1.pt", val_spec, work / f"eval-open_clip-{name}.json")
        results["open_clip"].append({"seed": seed, "wall_s": wall, "samples": oc_samples,
                                     "loop_samples_per_s": open_clip_rate(logs / name / "out.log", args.batch_size), **ev})
        variants = [("tuwen", args.recipe.split())]
        if args.plain_too:
            variants.append(("tuwen_plain", [*PLAIN_FLAGS, *args.recipe.split()]))
        # Equal wall clock whatever the shared machine did meanwhile: tuwen gets the wall clock open_clip's whole
        # command actually took, less tuwen's imports (its budget clock starts after them).
        tuwen_minutes = max(0.1, (wall - TUWEN_IMPORT_S) / 60)
        for label, flags in variants:
            run = work / f"{label}-{name}"
            shutil.rmtree(run, ignore_errors=True)
            wall = sh([PY, "-m", "tuwen.cli", "train", "--data", train_spec, "--output", run, "--model", "tiny",
                       "--batch-size", args.batch_size, "--time-budget", f"{tuwen_minutes:.3f}", "--seed", seed,
                       "--precision", "bf16", "--workers", "1", "--lr", args.lr, "--weight-decay", "0.1",
                       "--save-every", "100000", *flags], work / f"{label}-{name}.log", env)
            ev = evaluate(run, val_spec, work / f"eval-{label}-{name}.json")
            steps = sum(1 for x in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in x)
            last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
            results[label].append({"seed": seed, "wall_s": wall, "samples": last.get("samples"),
                                   "loop_samples_per_s": tuwen_rate(run), **ev})
        (work / "results.json").write_text(json.dumps(results, indent=1))

    print("\n== results (" + f"{args.minutes} min per run, seeds {args.seeds}) ==")
    summary = {}
    for label, rows in results.items():
        if not rows:
            continue
        mr = mean_sd([r["mean_recall"] for r in rows])
        sp = mean_sd([r["loop_samples_per_s"] for r in rows])
        whole = mean_sd([r["samples"] / r["wall_s"] for r in rows if r.get("samples")])
        summary[label] = {"mean_recall": mr, "loop_samples_per_s": sp, "whole_command_samples_per_s": whole}
        print(f"{label:12s} mean recall {mr[0]:.2f} +- {mr[1]:.2f}   loop {sp[0]:.1f} +- {sp[1]:.1f} samples/s   "
              f"whole command {whole[0]:.1f} samples/s   wall {statistics.mean(r['wall_s'] for r in rows):.0f} s")
    oc = summary["open_clip"]
    # The speed goal is about plain contrastive training: the default --patch-dropout makes each step cheaper, so
    # tuwen's default samples/s is not a speed figure of the trainer; --plain-too measures the plain one alongside.
    extra = f" {args.recipe}" if args.recipe else ""
    variants = (("tuwen_plain", f"plain tuwen ({' '.join(PLAIN_FLAGS)}{extra})"),
                ("tuwen", f"tuwen at its defaults{' +' + extra if extra else ''}"))
    for label, what in variants:
        if label in summary:
            sp = summary[label]
            print(f"speed ratio {what} / open_clip (training loop): "
                  f"{sp['loop_samples_per_s'][0] / oc['loop_samples_per_s'][0]:.2f}  (whole command: "
                  f"{sp['whole_command_samples_per_s'][0] / oc['whole_command_samples_per_s'][0]:.2f})")
    for label, what in variants:
        if label in summary:
            print(f"quality ratio {what} / open_clip (mean recall): "
                  f"{summary[label]['mean_recall'][0] / max(1e-9, oc['mean_recall'][0]):.2f}")
    (work / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
