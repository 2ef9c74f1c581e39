"""torchrun DDP on CPU (gloo): 2 ranks x B/2 take the same step as 1 rank x B."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

WORKER = textwrap.dedent('''
    import sys, torch
    from tuwen.trainer.distributed import init_distributed
    from tuwen.trainer.model import build_model
    from tuwen.trainer.step import StepOptions, TrainStep
    from tuwen.trainer.tokenizer import ChineseWordPieceTokenizer

    out, mode = sys.argv[1], sys.argv[2]
    info = init_distributed()
    torch.manual_seed(0)
    model = build_model("tiny", embed_dim=32, vision={"image_size": 32, "width": 64, "layers": 2, "heads": 2},
                        text={"hidden_size": 64, "layers": 2, "heads": 2, "intermediate_size": 128})
    opts = StepOptions(precision="fp32", grad_cache_chunk=2 if mode == "gradcache" else 0,
                       distill=mode == "distill", distill_queue=0)
    stepper = TrainStep(model, opts, info, ChineseWordPieceTokenizer())
    g = torch.Generator().manual_seed(1)
    B = 8
    images = torch.randn(B, 3, 32, 32, generator=g)
    ids = torch.randint(106, 21128, (B, 9), generator=g)
    ids[:, 0] = 101
    per = B // info.world_size
    sl = slice(info.rank * per, (info.rank + 1) * per)
    logs = stepper.step(images[sl], ids[sl])
    if info.rank == 0:
        torch.save({"grads": {n: p.grad for n, p in model.named_parameters()}, "loss": logs["contrastive"]}, out)
    if info.enabled:
        torch.distributed.destroy_process_group()
''')


def _run(tmp_path, ranks, mode):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / f"{mode}-{ranks}.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if ranks == 1:
        cmd = [sys.executable, str(script), str(out), mode]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
               str(script), str(out), mode]
    subprocess.run(cmd, check=True, env=env, timeout=300)
    return torch.load(out)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["plain", "gradcache", "distill"])
def test_two_ranks_with_half_batches_take_the_same_step_as_one_rank(tmp_path, mode):
    one, two = _run(tmp_path, 1, mode), _run(tmp_path, 2, mode)
    assert abs(one["loss"] - two["loss"]) <= 1e-5 * abs(one["loss"])
    g1 = torch.cat([g.flatten() for g in one["grads"].values()])
    g2 = torch.cat([two["grads"][n].flatten() for n in one["grads"]])
    assert g1.norm() > 0
    assert (g1 - g2).norm() / g1.norm() <= 1e-5
    ls1, ls2 = one["grads"]["logit_scale"], two["grads"]["logit_scale"]
    assert abs(ls1 - ls2) <= 1e-5 * abs(ls1) + 1e-9  # the shared temperature is counted once


@pytest.mark.slow
def test_torchrun_training_command_runs_to_completion(tmp_path):
    from tuwen.trainer.synthetic import synthetic_pairs, write_shards

    write_shards(synthetic_pairs(32, size=32), tmp_path / "s", shard_size=8)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "tuwen.cli",
           "train", "--data", f"{tmp_path}/s/{{000000..000003}}.tar", "--output", str(tmp_path / "run"),
           "--batch-size", "8", "--max-steps", "2", "--workers", "0", "--precision", "fp32"]
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()
    assert (tmp_path / "run" / "checkpoints" / "step-2").is_dir()
