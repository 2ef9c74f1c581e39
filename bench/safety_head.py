"""The safety head on real photos: does a head trained by `tuwen safety-head` on one set of photos catch the same
visual concept in photos it never saw, and what does it cost in `tuwen run`?

No unsafe photo set can be had here, so a visual concept stands in for "unsafe": Flickr8k-CN photos whose human
captions mostly mention a dog (at least 3 of 5 captions contain 狗; about 28 % of the photos) are "unsafe", photos
with no caption mentioning one are "safe", the rest are left out.

1. A scorer: a `tiny` dual encoder trained by `tuwen train --time-budget --minutes` on the 2,000 train photos (all
   five human captions each, as pipeline shards; cached in bench/_work/safety-head/model). It is weak (minutes on a
   CPU); a strong model (Chinese-CLIP) is what a user would pass.
2. `tuwen safety-head` on the labelled train photos (`--min-side 200`): its held-out figures (ROC AUC, recall,
   safe dropped) as it prints them, and its histogram (bench/_work/safety-head/head.png).
3. `tuwen run --scorer M --safety-head H` on the 500 val photos, none of which the scorer or the head saw: the
   share of dog photos rejected as unsafe_image_head (recall) and of safe photos (false drops), against the
   held-out figures of step 2.
4. Cost: the same `tuwen run` on the val photos with the scorer and without the head, on one core: the head's CPU
   per image; and with the prompts check instead (its cost; a tiny model's verdicts mean nothing).

    .venv/bin/python bench/safety_head.py --minutes 8
"""
from __future__ import annotations

import argparse
import glob
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_benchkit import FLICKR, TUWEN, WORK, pinned, run_timed, shell_line  # noqa: E402

HWORK = WORK / "safety-head"
DOG = "狗"
MIN_DOG_CAPTIONS = 3


def label_of(captions: list[str]) -> str | None:
    n = sum(DOG in c for c in captions)
    return "unsafe" if n >= MIN_DOG_CAPTIONS else "safe" if n == 0 else None


def manifests() -> dict:
    """Pipeline manifests: train pairs (every caption), labelled train and val photos (first caption)."""
    rows = [json.loads(line) for line in (FLICKR / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    HWORK.mkdir(parents=True, exist_ok=True)
    out = {name: HWORK / f"{name}.jsonl" for name in ("pairs", "train", "val")}
    with open(out["pairs"], "w", encoding="utf-8") as pairs, open(out["train"], "w", encoding="utf-8") as train, \
            open(out["val"], "w", encoding="utf-8") as val:
        for r in rows:
            image, stem = str((FLICKR / r["image"]).resolve()), Path(r["image"]).stem
            if r["split"] == "train":
                for k, caption in enumerate(r["captions"]):
                    pairs.write(json.dumps({"id": f"{stem}#{k}", "text": caption, "image": image},
                                           ensure_ascii=False) + "\n")
            label = label_of(r["captions"])
            if label:
                (train if r["split"] == "train" else val).write(json.dumps(
                    {"id": stem, "text": r["captions"][0], "image": image, "label": label}, ensure_ascii=False) + "\n")
    return out


def sh(cmd: list, log: Path) -> None:
    print("$ " + shell_line([str(c) for c in cmd]), flush=True)
    with open(log, "w") as fh:
        r = subprocess.run([str(c) for c in cmd], stdout=fh, stderr=subprocess.STDOUT)
    if r.returncode:
        print(log.read_text()[-3000:])
        raise SystemExit(f"failed: {cmd[:3]}")


def scorer(pairs: Path, minutes: float, cpu) -> Path:
    model = HWORK / "model"
    if (model / "final").is_dir():
        print(f"1. scorer: cached {model} (delete it to retrain)")
        return model
    shards = HWORK / "train-shards"
    sh(pinned([TUWEN, "run", "--input", pairs, "--output", shards, "--overwrite", "--min-side", "200",
               "--image-safety=", "--dedup", "off", "--progress-seconds", "0"], cpu), HWORK / "shards.log")
    sh(pinned([TUWEN, "train", "--data", f"{shards}/shards/*.tar", "--output", model, "--model", "tiny",
               "--time-budget", str(minutes), "--seed", "0"], cpu), HWORK / "train.log")
    print(f"1. scorer: tiny, {minutes} min of tuwen train on the 2,000 train photos x 5 captions: {model}")
    return model


def main(argv=None) -> int:
    import pyarrow.parquet as pq

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=8.0, help="tuwen train --time-budget for the scorer")
    ap.add_argument("--cpu", type=int, default=0, help="core to pin the runs to (-1: no pinning)")
    args = ap.parse_args(argv)
    cpu = None if args.cpu < 0 else args.cpu
    m = manifests()
    model = scorer(m["pairs"], args.minutes, cpu)
    head = HWORK / "head.safetensors"
    cmd = pinned([TUWEN, "safety-head", "--scorer", model, "--input", m["train"], "--output", head, "--min-side",
                  "200", "--plot", HWORK / "head.png"], cpu)
    sh(cmd, HWORK / "head.log")
    print("2. " + shell_line([str(c) for c in cmd]))
    for line in (HWORK / "head.log").read_text().splitlines():
        if not line.startswith("tuwen"):
            print("   " + line)

    labels = {json.loads(l)["id"]: json.loads(l)["label"] for l in m["val"].read_text(encoding="utf-8").splitlines()}
    runs = {}
    for name, extra in (("head", ["--safety-head", str(head)]), ("no-head", []),
                        ("prompts", ["--image-safety=prompts"])):
        out = HWORK / f"val-{name}"
        cmd = pinned([str(TUWEN), "run", "--input", str(m["val"]), "--output", str(out), "--overwrite",
                      "--min-side", "200", "--image-safety=", "--dedup", "off", "--progress-seconds", "0",
                      "--scorer", str(model), "--similarity-threshold", "-1", *extra], cpu)  # a later
        # --image-safety (prompts) overrides the first
        res = run_timed(cmd, log_path=HWORK / f"val-{name}.log")
        if res.returncode:
            print(res.output_tail)
            return 1
        runs[name] = (cmd, res)
    rejects = [r for p in glob.glob(f"{HWORK}/val-head/rejects/*.parquet") for r in pq.read_table(p).to_pylist()]
    flagged = {r["id"] for r in rejects if r["reason"] == "unsafe_image_head"}
    unsafe = {i for i, lab in labels.items() if lab == "unsafe"}
    safe = set(labels) - unsafe
    print(f"3. val photos (never seen by the scorer or the head): {len(unsafe)} dog photos, {len(safe)} safe")
    print(f"   rejected as unsafe_image_head: {len(flagged & unsafe)}/{len(unsafe)} dog photos = "
          f"{len(flagged & unsafe) / len(unsafe):.1%} (recall); {len(flagged & safe)}/{len(safe)} safe = "
          f"{len(flagged & safe) / len(safe):.1%} (false drops)")
    print(f"   command: {shell_line(runs['head'][0])}")
    (_, on), (_, off) = runs["head"], runs["no-head"]
    n = len(labels)
    print(f"4. cost on one core, {n} photos: {off.cpu_s:.1f} s CPU without the head, {on.cpu_s:.1f} s with it: "
          f"{(on.cpu_s - off.cpu_s) / n * 1000:+.2f} ms an image ({on.cpu_s / off.cpu_s:.3f}x the scored run; "
          "within the noise when near 1)")
    (_, pr) = runs["prompts"]
    print(f"   the prompts check (--image-safety=prompts, the shipped prompts) on the same run: {pr.cpu_s:.1f} s CPU: "
          f"{(pr.cpu_s - off.cpu_s) / n * 1000:+.2f} ms an image ({pr.cpu_s / off.cpu_s:.3f}x; its class embeddings "
          "are made once per worker)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
