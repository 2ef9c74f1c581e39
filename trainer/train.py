"""The training loop behind ``tuwen train``: data -> TrainStep -> AdamW -> logs, checkpoints, final weights.

Stopping: ``--max-steps`` and ``--time-budget`` (whichever first); with neither, ``--epochs`` (default 1) over the
counted samples. The learning rate warms up linearly and follows a cosine to 0 over the planned steps, or over the
time budget when only a budget is given (then runs are not bit-reproducible; ``--max-steps`` runs are).
"""
from __future__ import annotations

import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import checkpoint as ckpt
from .data import StreamConfig, count_samples, expand_shards, load_eval_set, make_train_loader
from .distributed import DistInfo, all_ranks_true, all_reduce_mean, init_distributed
from .model import build_model, image_preprocess
from .step import StepOptions, TrainStep, autocast_for
from .tokenizer import load_tokenizer


def default_precision(device: torch.device) -> str:
    """bf16 where the hardware has it (CUDA bf16, or CPU oneDNN bf16), else fp32."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    try:
        return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"
    except Exception:  # older builds without the op
        return "fp32"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_patch_dropout(model, share: float) -> None:
    """FLIP: while the model is in training mode its image tower keeps a random (1 - share) of the patch tokens (the
    class token always stays). open_clip's PatchDropout is the identity in eval mode and has no weights, so
    evaluation, validation and the saved weights and config are unchanged."""
    from open_clip.transformer import PatchDropout

    model.visual.patch_dropout = PatchDropout(share) if share > 0 else torch.nn.Identity()


def param_groups(params_named, weight_decay: float):
    """No weight decay on biases, norms, embeddings and the logit scale (as open_clip)."""
    decay, no_decay = [], []
    for name, p in params_named:
        if not p.requires_grad:
            continue
        if p.ndim < 2 or "embedding" in name or "LayerNorm" in name or "logit_scale" in name or name.startswith("ln"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


WARMUP_FRACTION = 0.1  # of the planned steps, or of the time budget when the steps are not known in advance


def lr_at(progress: float, step: int, base_lr: float, warmup: int | None) -> float:
    """Linear warm-up (``warmup`` steps, or the first 10% of ``progress`` when None), then cosine to 0."""
    if warmup is not None and step < warmup:
        return base_lr * (step + 1) / warmup
    if warmup is None and progress < WARMUP_FRACTION:
        return base_lr * max(progress / WARMUP_FRACTION, 1e-3)
    return 0.5 * base_lr * (1 + math.cos(math.pi * min(1.0, progress)))


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class RunLog:
    """metrics.jsonl writer and progress printer (main rank only)."""

    def __init__(self, run_dir: Path, enabled: bool):
        self.path = run_dir / "metrics.jsonl"
        self.enabled = enabled

    def write(self, row: dict) -> None:
        if self.enabled:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")

    def say(self, text: str) -> None:
        if self.enabled:
            print(text, flush=True)


def train(args) -> int:
    start_time = time.time()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    info = init_distributed(device)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    precision = args.precision or default_precision(device)
    if precision == "fp16" and device.type != "cuda":
        print("tuwen train: --precision fp16 needs a GPU (use bf16 or fp32 on CPU)", file=sys.stderr)
        return 2
    if args.batch_size % info.world_size:
        print(f"tuwen train: --batch-size {args.batch_size} is not divisible by {info.world_size} ranks",
              file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 0:
        print("tuwen train: --workers must be >= 0", file=sys.stderr)
        return 2
    if args.deterministic or args.precision == "fp32":
        torch.use_deterministic_algorithms(True, warn_only=True)
    run_dir = Path(args.output)
    run_dir.mkdir(parents=True, exist_ok=True)
    log = RunLog(run_dir, info.is_main)
    local_batch = args.batch_size // info.world_size

    urls = expand_shards(args.data)
    if not urls:
        print(f"tuwen train: no shards match {args.data!r}", file=sys.stderr)
        return 2

    seed_everything(args.seed)
    model = build_model(args.model, dropout=args.dropout).to(device)
    if args.init:
        try:
            ckpt.load_into(model, args.init)
        except ckpt.UnsafeCheckpointError as e:
            print(f"tuwen train: --init: {e}", file=sys.stderr)
            return 2
        log.say(f"initialised from {args.init}")
    if args.patch_dropout:
        set_patch_dropout(model, args.patch_dropout)
    tokenizer = load_tokenizer(None, context_length=model.context_length)
    opts = StepOptions(precision=precision, grad_cache_chunk=args.grad_cache_chunk or 0, distill=args.distill,
                       distill_alpha=args.distill_alpha, distill_momentum=args.distill_momentum,
                       distill_queue=args.distill_queue, mlm_weight=args.mlm if args.mlm else 0.0,
                       image_ssl_weight=args.image_ssl if args.image_ssl else 0.0, seed=args.seed)
    stepper = TrainStep(model, opts, info, tokenizer, device)
    named = list(model.named_parameters())
    for prefix, head in (("mlm_head", stepper.mlm_head), ("ssl_head", stepper.ssl_head)):
        if head is not None:
            named += [(f"{prefix}.{n}", p) for n, p in head.named_parameters()]
    # fused: one kernel per parameter group instead of a dozen per-tensor passes (24 -> 5 ms a step for tiny on CPU)
    optimizer = torch.optim.AdamW(param_groups(named, args.weight_decay), lr=args.lr, betas=(0.9, 0.98), eps=1e-6,
                                  fused=device.type in ("cpu", "cuda"))
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    n_samples = None
    if args.max_steps:
        planned = args.max_steps
    elif args.time_budget:
        planned = None
    else:
        n_samples = count_samples(urls)
        planned = max(1, int(args.epochs * n_samples) // args.batch_size)
    # Warm-up: --warmup steps, else 10% of the planned steps (at most 500), else 10% of the time budget.
    if args.warmup is not None:
        warmup = args.warmup
    elif planned is not None:
        warmup = min(500, max(1, int(planned * WARMUP_FRACTION)))
    else:
        warmup = None

    step = 0
    resume = args.resume
    if resume:
        path = ckpt.resume_folder(resume, run_dir)
        if path is None:
            log.say("no checkpoint to resume from; starting fresh")
        else:
            try:
                state = load_train_state(Path(path) / ckpt.TRAIN_STATE)
                ckpt.load_into(model, path)
            except (ckpt.UnsafeCheckpointError, FileNotFoundError) as e:
                print(f"tuwen train: --resume: {e}", file=sys.stderr)
                return 2
            optimizer.load_state_dict(state["optimizer"])
            stepper.load_state_dict(state["stepper"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            step = state["step"]
            rng = state["rng"][info.rank] if info.rank < len(state["rng"]) else state["rng"][0]
            restore_rng_state(rng, stepper.generator)
            log.say(f"resumed from {path} at step {step}")

    workers = args.workers if args.workers is not None else min(4, max(1, (torch.get_num_threads() or 2) // 2))
    stream = StreamConfig(urls=urls, batch_size=local_batch, seed=args.seed, rank=info.rank,
                          world_size=info.world_size, shuffle_buffer=args.shuffle_buffer,
                          caption_aug=args.caption_aug, image_aug=args.image_aug,
                          decode_side=model.image_size, skip_batches=step)
    preprocess = image_preprocess(model.image_size)
    loader = make_train_loader(stream, preprocess, tokenizer, workers)

    val_set = load_eval_set(args.val_data) if args.val_data and info.is_main else None
    budget_s = args.time_budget * 60 if args.time_budget else None
    stop_reason = "steps"
    plan = f"{planned} steps" if planned else f"{args.time_budget} min"
    log.say(f"tuwen train: model {args.model}, global batch {args.batch_size} ({info.world_size} rank(s) x "
            f"{local_batch}), precision {precision}, seed {args.seed}, workers {workers}, {len(urls)} shard(s)"
            + (f", {n_samples} samples" if n_samples else "") + f", plan {plan}, output {run_dir}")
    log.say(f"augmentation: caption-aug {args.caption_aug}, image-aug {args.image_aug}, patch-dropout "
            f"{float(args.patch_dropout or 0)} (0 = off)")

    model.train()
    t_loop = time.time()
    samples_since, t_since = 0, time.time()
    data_iter = iter(loader)
    last_logs: dict = {}
    final_step_saved = False
    while True:
        if planned is not None and step >= planned:
            stop_reason = "max-steps" if args.max_steps else "epochs"
            break
        elapsed = time.time() - start_time
        # At least one step always runs, so every run leaves trained weights behind.
        out_of_time = budget_s is not None and elapsed >= budget_s and step > stream.skip_batches
        if not all_ranks_true(not out_of_time, info):
            stop_reason = "time-budget"
            break
        images, ids = next(data_iter)
        images, ids = images.to(device, non_blocking=True), ids.to(device, non_blocking=True)
        progress = step / planned if planned else 0.0
        if budget_s is not None and not args.max_steps:
            progress = max(progress, elapsed / budget_s)
        lr = lr_at(progress, step, args.lr, warmup)
        for g in optimizer.param_groups:
            g["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        logs = stepper.step(images, ids, scale_loss=scaler.scale if scaler else None)
        logs.pop("_extra", None)
        if args.grad_clip:
            if scaler is not None:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(stepper.parameters(), args.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        stepper.after_optimizer_step()
        step += 1
        samples_since += args.batch_size
        last_logs = logs
        if step % args.log_every == 0 or step == 1 or (planned and step == planned):
            now = time.time()
            rate = samples_since / max(1e-9, now - t_since)
            samples_since, t_since = 0, now
            per_step = (now - t_loop) / max(1, step - (stream.skip_batches or 0))
            left = []
            if planned:
                left.append((planned - step) * per_step)
            if budget_s:
                left.append(budget_s - (now - start_time))
            time_left = min(left) if left else float("nan")
            temperature = 1.0 / float(model.logit_scale.detach().exp())
            row = {"step": step, "samples": step * args.batch_size, "lr": lr, "temperature": temperature,
                   "samples_per_s": rate, "elapsed_s": now - start_time}
            row.update({k: all_reduce_mean(v, info) for k, v in logs.items()})
            log.write(row)
            aux = "".join(f" {k} {row[k]:.3f}" for k in ("mlm", "image_ssl") if k in row)
            log.say(f"step {step}{'/' + str(planned) if planned else ''}  {rate:7.1f} samples/s  "
                    f"loss {row['loss']:.4f}{aux}  temp {temperature:.4f}  lr {lr:.2e}  "
                    f"left {_fmt_time(time_left) if left else '?'}")
        if args.save_every and step % args.save_every == 0:
            _save_checkpoint(run_dir, step, model, tokenizer, optimizer, stepper, scaler, info, args)
            final_step_saved = True
        else:
            final_step_saved = False
        if val_set is not None and args.val_every and step % args.val_every == 0:
            _validate(model, tokenizer, preprocess, val_set, step, log, autocast_for(precision, device))
            model.train()

    if step and not final_step_saved:
        _save_checkpoint(run_dir, step, model, tokenizer, optimizer, stepper, scaler, info, args)
    if info.is_main:
        if val_set is not None:
            _validate(model, tokenizer, preprocess, val_set, step, log, autocast_for(precision, device))
        ckpt.save_model_folder(run_dir / "final", model, tokenizer)
        from .plots import plot_run

        plot_run(run_dir)
        total = time.time() - start_time
        log.say(f"done: {step} steps ({stop_reason}), {total:.0f} s, last loss "
                f"{last_logs.get('loss', float('nan')):.4f}; weights in {run_dir / 'final'}")
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return 0


def capture_rng_state(generator: torch.Generator | None = None) -> dict:
    """This process's random state (torch, python, numpy, and the auxiliary tasks' generator) as tensors and plain
    ints, so that ``torch.load(..., weights_only=True)`` reads it back (numpy's state is an ndarray otherwise)."""
    py_version, py_internal, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    state = {"torch": torch.get_rng_state(),
             "python": {"version": int(py_version), "internal": [int(x) for x in py_internal],
                        "gauss_next": py_gauss},
             "numpy": {"kind": str(np_kind), "keys": [int(x) for x in np_keys], "pos": int(np_pos),
                       "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_gauss)}}
    if generator is not None:
        state["aux"] = generator.get_state()
    return state


def restore_rng_state(rng: dict, generator: torch.Generator | None = None) -> None:
    """Inverse of ``capture_rng_state`` (also reads the older layout: python's and numpy's own state tuples)."""
    torch.set_rng_state(rng["torch"])
    py = rng["python"]
    if isinstance(py, dict):
        py = (py["version"], tuple(py["internal"]), py["gauss_next"])
    random.setstate(py)
    nps = rng["numpy"]
    if isinstance(nps, dict):
        nps = (nps["kind"], np.asarray(nps["keys"], dtype=np.uint32), nps["pos"], nps["has_gauss"],
               nps["cached_gaussian"])
    np.random.set_state(nps)
    if generator is not None and "aux" in rng:
        generator.set_state(rng["aux"])


def _plain(value):
    """``vars(args)`` with only the plain types ``weights_only`` loading accepts (anything else becomes a string)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _numpy_rng_globals() -> list:
    """The numpy globals an older train_state.pt (numpy's RNG state stored as an ndarray) needs: array and dtype
    reconstruction only, nothing that runs code."""
    out = [np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    for mod in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            import importlib

            out.append(importlib.import_module(mod)._reconstruct)
        except (ImportError, AttributeError):
            pass
    return out


def load_train_state(path: str | Path) -> dict:
    """train_state.pt, read with ``weights_only=True`` (refused with ``UnsafeCheckpointError`` if it needs code)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no {ckpt.TRAIN_STATE} at {path}")
    return ckpt.safe_torch_load(path, extra_safe_globals=_numpy_rng_globals())


def _save_checkpoint(run_dir, step, model, tokenizer, optimizer, stepper, scaler, info: DistInfo, args) -> None:
    # Per-rank random state: dropout (torch), and the auxiliary tasks' generator (masks, views).
    rng = capture_rng_state(stepper.generator)
    if info.enabled:
        import torch.distributed as dist

        gathered = [None] * info.world_size
        dist.all_gather_object(gathered, rng)
        rngs = gathered
    else:
        rngs = [rng]
    if info.is_main:
        state = {"step": step, "optimizer": optimizer.state_dict(), "stepper": stepper.state_dict(), "rng": rngs,
                 "scaler": scaler.state_dict() if scaler else None, "args": _plain(vars(args))}
        ckpt.save_train_checkpoint(run_dir, step, model, tokenizer, state, keep=args.keep_checkpoints)


def _validate(model, tokenizer, preprocess, val_set, step, log: RunLog, autocast) -> None:
    from .evaluate import evaluate_retrieval

    res = evaluate_retrieval(model, tokenizer, preprocess, val_set, autocast=autocast)
    log.write({"step": step, "val": res})
    log.say(f"val @ step {step}: mean recall {res['mean_recall']:.2f} (i2t r1 {res['i2t_r1']:.1f}, "
            f"t2i r1 {res['t2i_r1']:.1f})")
