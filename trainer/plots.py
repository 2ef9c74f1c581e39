"""PNG plots of a run from its metrics.jsonl: the loss curve, and validation recall when there is any."""
from __future__ import annotations

import json
from pathlib import Path


def read_metrics(path: str | Path) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def _finish(plt, fig, ax, ylabel: str, title: str, path: Path) -> Path:
    """Label a per-step plot, save it as PNG and close it."""
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_run(run_dir: str | Path) -> list[Path]:
    """Write ``loss.png`` (and ``val_recall.png`` when validation ran) into the run folder; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    rows = read_metrics(run_dir / "metrics.jsonl")
    written = []
    train = [r for r in rows if "loss" in r]
    if train:
        fig, ax = plt.subplots(figsize=(6, 4))
        steps = [r["step"] for r in train]
        for key in ("loss", "contrastive", "mlm", "image_ssl"):
            ys = [r.get(key) for r in train]
            if any(y is not None for y in ys) and (key == "loss" or key != "contrastive" or len(set(ys)) > 1):
                ax.plot([s for s, y in zip(steps, ys) if y is not None], [y for y in ys if y is not None], label=key)
        written.append(_finish(plt, fig, ax, "loss", "training loss", run_dir / "loss.png"))
    val = [r for r in rows if "val" in r]
    if val:
        fig, ax = plt.subplots(figsize=(6, 4))
        for key in ("mean_recall", "i2t_r1", "t2i_r1"):
            ax.plot([r["step"] for r in val], [r["val"][key] for r in val], marker="o", label=key)
        written.append(_finish(plt, fig, ax, "recall (%)", "validation recall", run_dir / "val_recall.png"))
    return written
