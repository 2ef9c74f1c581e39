"""Relevance scoring speed: `tuwen run --scorer` against the raw model forward on the same fixed-size batches.

(a) What scoring costs inside the pipeline, against what the model itself costs, for two random-weight tuwen models
    saved as `tuwen train` saves them (trainer.checkpoint.save_model_folder): `tiny` (96 px, 4+4 layers) and `base`
    (ViT-B/16 image tower at 224 px + 12-layer BERT-base text tower: Chinese-CLIP ViT-B-16 shapes).
    - pipeline cost of scoring, per pair = (T(scorer on) - T(scorer off)) / N, the same command on the same N photos
      otherwise (`--dedup off` in both, so the only difference is the scorer, `--similarity-threshold -1`, so no
      pair is dropped). "after start-up" takes the start-up out: each command is also run on a set of one batch
      (--startup-n, 16 pairs) and the cost is ((T_on(N) - T_on(s)) - (T_off(N) - T_off(s))) / (N - s): the torch
      import and the model load cancel out.
    - raw cost, per pair: a fresh Python on the same core, the same `load_scorer(spec, threads, precision)`, the
      same decoded images (transforms.image.process_image, the pipeline's own decode, not timed) and the cleaned
      texts the pipeline wrote to its index, in batches of exactly B (the last padded, as the pipeline's
      embed_in_batches does). Two figures: `model` = preprocess + tokenize + embed (all the work score_batch has to
      do on a decoded image: the pipeline cannot skip preprocessing) and `embed` = Scorer.embed alone.
    - ratio = raw cost / pipeline cost (goal >= 0.9 for `model`), by CPU seconds (the primary figure: the machine is
      shared, and every command runs under `taskset -c CPU` with one torch thread, so CPU seconds are what the core
      did) and by wall time. The pipeline's scores (index `score`) are compared with the raw run's: they must match
      exactly (a pair scores the same bits in the pipeline and outside it).
(b) Whole-command pairs/s of the same runs, scorer on and off.
(c) `--scorer-precision bf16` (tiny): the pipeline twice with bf16 (speed against fp32, and whether the two runs
    write byte-identical shards and index), the raw forward in bf16 against fp32, and how far bf16 scores move.

    .venv/bin/python bench/relevance_speed.py                       # tiny 2000 pairs x 2, base 128 pairs, ~16 min
    .venv/bin/python bench/relevance_speed.py --models tiny --n-tiny 500 --repeat 1
    .venv/bin/python bench/relevance_speed.py --threads 2 --cpu 0-1  # both cores (the machine has 2)
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photos  # noqa: E402
from pipeline_benchkit import TUWEN, VENV_PYTHON, WORK, run_timed, shell_line, tuwen_version_check  # noqa: E402

RWORK = WORK / "relevance"
MODELS = ("tiny", "base")
GOAL = 0.9


def ensure_model(name: str, seed: int = 0) -> Path:
    """A random-weight tuwen model folder (model.safetensors, config.json, vocab.txt), made once per (name, seed)."""
    folder = RWORK / "models" / f"{name}-seed{seed}"
    if (folder / "model.safetensors").exists():
        return folder
    code = ("import sys, torch\n"
            "from tuwen.trainer.checkpoint import save_model_folder\n"
            "from tuwen.trainer.model import build_model\n"
            "from tuwen.trainer.tokenizer import load_tokenizer\n"
            "torch.manual_seed(int(sys.argv[2]))\n"
            "save_model_folder(sys.argv[3], build_model(sys.argv[1]), load_tokenizer())\n")
    print(f"relevance: saving a random-weight {name} model to {folder} ...", file=sys.stderr, flush=True)
    import subprocess

    subprocess.run([str(VENV_PYTHON), "-c", code, name, str(seed), str(folder)], check=True,
                   stderr=subprocess.DEVNULL)
    return folder


def pinned(cmd: list[str], cpu: str | None) -> list[str]:
    return cmd if not cpu else ["taskset", "-c", cpu, *cmd]


def tuwen_cmd(set_dir: Path, out: Path, model: Path | None, args, precision: str = "fp32") -> list[str]:
    cmd = [str(TUWEN), "run", "--input", str(set_dir / "*.jsonl"), "--output", str(out), "--overwrite",
           "--min-side", "256", "--direct_num_workers", "1", "--shard-size", "1000", "--dedup", "off",
           "--progress-seconds", "0", "--image-safety="]  # the scorer's cost alone (safety_nsfw.py has nsfw's)
    if model is not None:
        cmd += ["--scorer", str(model), "--similarity-threshold", "-1", "--scorer-batch-size", str(args.batch_size),
                "--scorer-threads", str(args.threads), "--scorer-precision", precision, "--scorer-device", "cpu"]
    return cmd


def index_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    rows = []
    for path in sorted(glob.glob(str(out / "index" / "*.parquet"))):
        rows += pq.read_table(path).to_pylist()
    return rows


def file_digests(out: Path) -> dict[str, str]:
    import hashlib

    digests = {}
    for path in sorted([*(out / "shards").glob("*.tar"), out / "shards" / "sizes.json",
                        *(out / "index").glob("*.parquet")]):
        if path.exists():
            digests[str(path.relative_to(out))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


# --- the raw forward (run in a fresh, pinned Python) ---------------------------------------------------------------

def raw_forward(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--spec", required=True)
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--texts-from", type=Path, required=True, help="a pipeline output: cleaned texts from its index")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--precision", default="fp32")
    p.add_argument("--max-batches", type=int, default=0)
    p.add_argument("--json-out", type=Path, required=True)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    c0 = time.process_time()
    import numpy as np

    from tuwen.trainer.scoring import load_scorer
    from tuwen.transforms.image import ImageConfig, process_image
    from tuwen.transforms.relevance import pair_scores

    scorer = load_scorer(a.spec, device="cpu", precision=a.precision, threads=a.threads)
    load = (time.perf_counter() - t0, time.process_time() - c0)
    texts = {r["id"]: r["text"] for r in index_rows(a.texts_from)}
    rows = [json.loads(line) for line in a.manifest.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r["id"] in texts]
    cfg = ImageConfig()
    B = a.batch_size
    wall = {"preprocess": 0.0, "tokenize": 0.0, "embed": 0.0}
    cpu = dict(wall)
    scores, batches, per_batch_embed = {}, 0, []

    def timed(name, fn):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        wall[name] += time.perf_counter() - w
        cpu[name] += time.process_time() - c
        return out

    for start in range(0, len(rows), B):
        if a.max_batches and batches >= a.max_batches:
            break
        chunk = rows[start:start + B]
        ims = []
        for r in chunk:  # the pipeline's own decode (not timed: both pipeline runs pay it)
            with open(r["image"], "rb") as f:
                res = process_image(f.read(), cfg, keep_decoded=True, decoded_side=scorer.image_size)
            ims.append(res.decoded)
        txs = [texts[r["id"]] for r in chunk]
        n = len(ims)
        ims += [ims[-1]] * (B - n)
        txs += [txs[-1]] * (B - n)
        pixels = timed("preprocess", lambda: np.stack([scorer.preprocess(im) for im in ims]))
        ids = timed("tokenize", lambda: scorer.tokenize(txs))
        c = time.process_time()
        img, txt = timed("embed", lambda: scorer.embed(pixels, ids))
        per_batch_embed.append(time.process_time() - c)
        for r, s in zip(chunk, pair_scores(img[:n], txt[:n])):
            scores[r["id"]] = s
        batches += 1
    a.json_out.write_text(json.dumps({"n": len(scores), "batches": batches, "wall": wall, "cpu": cpu,
                                      "load_wall": load[0], "load_cpu": load[1], "scores": scores,
                                      "per_batch_embed_cpu": per_batch_embed, "torch_threads": a.threads}))
    return 0


def run_raw(spec: Path, set_dir: Path, texts_from: Path, args, precision: str, tag: str, max_batches: int = 0):
    out = RWORK / f"raw-{tag}.json"
    cmd = pinned([str(VENV_PYTHON), str(Path(__file__).resolve()), "--raw-forward", "--spec", str(spec),
                  "--manifest", str(set_dir / "pairs.jsonl"), "--texts-from", str(texts_from),
                  "--batch-size", str(args.batch_size), "--threads", str(args.threads), "--precision", precision,
                  "--max-batches", str(max_batches), "--json-out", str(out)], args.cpu)
    res = run_timed(cmd, log_path=RWORK / f"raw-{tag}.log")
    if res.returncode != 0:
        raise SystemExit(f"raw forward {tag} failed:\n{res.output_tail}")
    return json.loads(out.read_text()), shell_line(cmd)


# --- the benchmark -------------------------------------------------------------------------------------------------

def run_pipeline(set_dir, out, model, args, precision="fp32", tag=""):
    shutil.rmtree(out, ignore_errors=True)
    cmd = pinned(tuwen_cmd(set_dir, out, model, args, precision), args.cpu)
    res = run_timed(cmd, log_path=out.with_name(out.name + ".log"))
    if res.returncode != 0:
        raise SystemExit(f"tuwen run {tag} failed (exit {res.returncode}):\n{res.output_tail}")
    stats = json.loads((out / "stats.json").read_text())
    return res, stats, shell_line(cmd)


def bench_model(name: str, n: int, repeat: int, args, report: list, commands: dict):
    model = ensure_model(name)
    full = photos.ensure_photos(n, args.photos, quiet=True)
    small = photos.ensure_photos(args.startup_n, args.photos, quiet=True)
    runs = {k: [] for k in ("off-s", "off-N", "on-s", "on-N")}
    for rep in range(repeat):
        for key, set_dir, m, count in (("off-s", small, None, args.startup_n), ("off-N", full, None, n),
                                       ("on-s", small, model, args.startup_n), ("on-N", full, model, n)):
            out = RWORK / f"{name}-{key}"
            res, stats, line = run_pipeline(set_dir, out, m, args, tag=f"{name} {key}")
            if stats["kept"] != count:
                print(f"  warning: {name} {key}: kept {stats['kept']} of {count}: {stats['rejected_by_reason']}")
            runs[key].append(res)
            commands[f"{name} {key}"] = line
            print(f"  {name:<4} rep {rep + 1} {key:<5} n={count:<5} {res.wall_s:7.2f} s wall {res.cpu_s:7.2f} s cpu",
                  flush=True)
    raws = []
    for rep in range(repeat):
        raw, line = run_raw(model, full, RWORK / f"{name}-on-N", args, "fp32", f"{name}-fp32")
        raws.append(raw)
        commands[f"{name} raw"] = line
        print(f"  {name:<4} rep {rep + 1} raw   n={raw['n']:<5} model {sum(raw['cpu'].values()):7.2f} s cpu "
              f"(embed {raw['cpu']['embed']:.2f}, preprocess {raw['cpu']['preprocess']:.2f}, tokenize "
              f"{raw['cpu']['tokenize']:.2f}), load {raw['load_cpu']:.2f} s", flush=True)

    best = {k: (min(r.cpu_s for r in v), min(r.wall_s for r in v)) for k, v in runs.items()}
    raw_model_cpu = min(sum(r["cpu"].values()) for r in raws)
    raw_model_wall = min(sum(r["wall"].values()) for r in raws)
    raw_embed_cpu = min(r["cpu"]["embed"] for r in raws)
    raw_embed_wall = min(r["wall"]["embed"] for r in raws)
    s = args.startup_n
    rows = []
    for i, measure in enumerate(("cpu", "wall")):
        whole = (best["on-N"][i] - best["off-N"][i]) / n
        steady = ((best["on-N"][i] - best["on-s"][i]) - (best["off-N"][i] - best["off-s"][i])) / (n - s)
        raw_model = (raw_model_cpu if i == 0 else raw_model_wall) / n
        raw_embed = (raw_embed_cpu if i == 0 else raw_embed_wall) / n
        rows.append((measure, whole, steady, raw_model, raw_embed))
    # Scores: the pipeline's (rounded to 4 decimals) against the raw forward's, pair by pair.
    pipe_scores = {r["id"]: r["score"] for r in index_rows(RWORK / f"{name}-on-N")}
    raw_scores = raws[0]["scores"]
    same = sum(1 for k, v in raw_scores.items() if pipe_scores.get(k) == v)
    report.append({"model": name, "n": n, "best": best, "rows": rows, "same_scores": same,
                   "n_scores": len(raw_scores), "raw": raws[0], "startup_scorer": (
                       best["on-s"][0] - best["off-s"][0], best["on-s"][1] - best["off-s"][1])})
    return model, full


def bf16_part(model: Path, n: int, args, report: dict, commands: dict):
    """On n pairs: the pipeline once in fp32 and twice in bf16 (speed; byte-identical reruns), and the raw forward
    in bf16 against fp32 on the same batches."""
    full = photos.ensure_photos(n, args.photos, quiet=True)
    res = {}
    for tag, precision in (("fp32", "fp32"), ("a", "bf16"), ("b", "bf16")):
        out = RWORK / f"tiny-bf16-{tag}"
        r, stats, line = run_pipeline(full, out, model, args, precision=precision, tag=f"bf16 {tag}")
        res[tag] = r
        commands[f"tiny {precision} {tag}"] = line
        print(f"  tiny {precision} {tag:<4} n={n:<5} {r.wall_s:7.2f} s wall {r.cpu_s:7.2f} s cpu", flush=True)
    da, db = file_digests(RWORK / "tiny-bf16-a"), file_digests(RWORK / "tiny-bf16-b")
    raw32, line = run_raw(model, full, RWORK / "tiny-bf16-fp32", args, "fp32", "tiny-bf16set-fp32")
    raw16, line16 = run_raw(model, full, RWORK / "tiny-bf16-a", args, "bf16", "tiny-bf16set-bf16")
    commands["tiny raw fp32 (bf16 set)"] = line
    commands["tiny raw bf16"] = line16
    fp32_scores = {r["id"]: r["score"] for r in index_rows(RWORK / "tiny-bf16-fp32")}
    bf16_scores = {r["id"]: r["score"] for r in index_rows(RWORK / "tiny-bf16-a")}
    diffs = [abs(bf16_scores[k] - v) for k, v in fp32_scores.items() if k in bf16_scores]
    report.update(n=n, runs=res, identical=da == db and bool(da), n_files=len(da), raw_bf16=raw16, raw_fp32=raw32,
                  max_score_diff=max(diffs) if diffs else float("nan"),
                  mean_score_diff=sum(diffs) / len(diffs) if diffs else float("nan"),
                  same_as_fp32=sum(1 for d in diffs if d == 0), n_scores=len(diffs),
                  bf16_pipe_matches_raw=sum(1 for k, v in raw16["scores"].items() if bf16_scores.get(k) == v))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--raw-forward"]:
        return raw_forward(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny,base", help="comma-separated subset of tiny,base")
    parser.add_argument("--n-tiny", type=int, default=2000, help="pairs for tiny (default 2000)")
    parser.add_argument("--n-base", type=int, default=128, help="pairs for base (default 128: 8 batches)")
    parser.add_argument("--repeat", type=int, default=2, help="repeats for tiny, interleaved; best counts (2)")
    parser.add_argument("--repeat-base", type=int, default=1, help="repeats for base (default 1)")
    parser.add_argument("--startup-n", type=int, default=16, help="pairs of the start-up runs (default 16)")
    parser.add_argument("--batch-size", type=int, default=16, help="--scorer-batch-size (default 16, tuwen's)")
    parser.add_argument("--threads", type=int, default=1, help="--scorer-threads and the raw run's (default 1)")
    parser.add_argument("--cpu", default="0", help="taskset core list for every command (default 0; '' = none)")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 part")
    parser.add_argument("--n-bf16", type=int, default=480,
                        help="pairs of the bf16 part (tiny; default 480: bf16 is emulated on CPUs without it)")
    parser.add_argument("--base-bf16-batches", type=int, default=1,
                        help="batches of the raw bf16 forward of base (default 1; 0 skips)")
    parser.add_argument("--photos", type=Path, default=photos.DEFAULT_OUT, help="photo pool (bench/photos.py --out)")
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    if set(models) - set(MODELS):
        parser.error(f"unknown models {sorted(set(models) - set(MODELS))}")
    if why := tuwen_version_check():
        print(f"relevance_speed: tuwen run is not usable: {why}")
        return 1
    RWORK.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    report, commands, bf16 = [], {}, {}
    tiny_model = None
    for name in models:
        n = args.n_tiny if name == "tiny" else args.n_base
        model, full = bench_model(name, n, args.repeat if name == "tiny" else args.repeat_base, args, report,
                                  commands)
        if name == "tiny":
            tiny_model = model
    if tiny_model is not None and not args.no_bf16 and args.n_bf16:
        bf16_part(tiny_model, args.n_bf16, args, bf16, commands)
    base_bf16 = None
    if "base" in models and args.base_bf16_batches:
        model = ensure_model("base")
        full = photos.ensure_photos(args.n_base, args.photos, quiet=True)
        base_bf16, line = run_raw(model, full, RWORK / "base-on-N", args, "bf16", "base-bf16",
                                  args.base_bf16_batches)
        commands["base raw bf16"] = line
    load_after = os.getloadavg()

    print()
    print(f"scorer threads {args.threads}, batch {args.batch_size}, taskset -c {args.cpu or '(none)'}; per pair, ms")
    print(f"{'model':<5} {'pairs':>5} {'by':<4} {'pipeline whole':>14} {'after start-up':>14} {'raw model':>9} "
          f"{'raw embed':>9} {'ratio model':>11} {'ratio embed':>11}")
    for r in report:
        for measure, whole, steady, raw_model, raw_embed in r["rows"]:
            print(f"{r['model']:<5} {r['n']:>5} {measure:<4} {whole * 1e3:>14.2f} {steady * 1e3:>14.2f} "
                  f"{raw_model * 1e3:>9.2f} {raw_embed * 1e3:>9.2f} {raw_model / steady:>10.2f}x "
                  f"{raw_embed / steady:>10.2f}x")
    print("  pipeline = (scorer on - scorer off) per pair; raw model = preprocess + tokenize + embed, raw embed = "
          "Scorer.embed alone; ratio = raw / pipeline after start-up (goal >= 0.9 for 'model')")
    for r in report:
        raw = r["raw"]
        n = raw["n"]
        print(f"{r['model']}: raw split per pair (CPU ms): preprocess {raw['cpu']['preprocess'] / n * 1e3:.2f}, "
              f"tokenize {raw['cpu']['tokenize'] / n * 1e3:.2f}, embed {raw['cpu']['embed'] / n * 1e3:.2f}; "
              f"{raw['batches']} batches; model load {raw['load_cpu']:.2f} s CPU in the raw run, scorer start-up "
              f"in the pipeline (on - off, {args.startup_n}-pair runs) {r['startup_scorer'][0]:.2f} s CPU; "
              f"scores identical to the pipeline's for {r['same_scores']}/{r['n_scores']} pairs")
    print()
    print(f"{'model':<5} {'pairs':>5} {'scorer off pairs/s':>18} {'scorer on pairs/s':>17} {'on/off':>7}   "
          f"(whole command, wall; by CPU s: off / on)")
    for r in report:
        b = r["best"]
        print(f"{r['model']:<5} {r['n']:>5} {r['n'] / b['off-N'][1]:>18.1f} {r['n'] / b['on-N'][1]:>17.1f} "
              f"{b['off-N'][1] / b['on-N'][1]:>6.2f}x   {r['n'] / b['off-N'][0]:.1f} / {r['n'] / b['on-N'][0]:.1f} "
              f"pairs per CPU-s")
    if bf16:
        r32, ra, rb = bf16["runs"]["fp32"], bf16["runs"]["a"], bf16["runs"]["b"]
        b_cpu, b_wall = min(ra.cpu_s, rb.cpu_s), min(ra.wall_s, rb.wall_s)
        raw32, raw16 = bf16["raw_fp32"], bf16["raw_bf16"]
        print()
        print(f"bf16 (tiny, {bf16['n']} pairs): whole pipeline {b_cpu:.1f} s CPU / {b_wall:.1f} s wall vs fp32 "
              f"{r32.cpu_s:.1f} / {r32.wall_s:.1f} s ({r32.cpu_s / b_cpu:.2f}x the fp32 speed by CPU); raw embed "
              f"{raw16['cpu']['embed']:.2f} s vs fp32 {raw32['cpu']['embed']:.2f} s CPU "
              f"({raw32['cpu']['embed'] / raw16['cpu']['embed']:.2f}x the fp32 speed)")
        print(f"  reruns in bf16: {bf16['n_files']} files (tars, sizes.json, index) "
              f"{'byte-identical' if bf16['identical'] else 'DIFFERENT'}; bf16 scores vs fp32: "
              f"{bf16['same_as_fp32']}/{bf16['n_scores']} identical, mean |diff| {bf16['mean_score_diff']:.4f}, "
              f"max {bf16['max_score_diff']:.4f}; pipeline bf16 scores = raw bf16 for "
              f"{bf16['bf16_pipe_matches_raw']}/{raw16['n']}")
    if base_bf16:
        base = next(r for r in report if r["model"] == "base")["raw"]
        k = base_bf16["batches"]
        f32 = sum(base["per_batch_embed_cpu"][:k])
        b16 = sum(base_bf16["per_batch_embed_cpu"])
        print(f"bf16 (base, raw embed, first {k} batches): {b16:.1f} s vs fp32 {f32:.1f} s CPU "
              f"({f32 / b16:.2f}x the fp32 speed)")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (2 shared cores)")
    print()
    print("commands:")
    for k, line in commands.items():
        print(f"  {k}: {line}")
    print("made by:", shell_line([sys.executable, str(Path(__file__).resolve()), *argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
