"""TrainStep with the training loop's optimizer set-up learns a fixed batch; the temperature is clamped as CLIP's."""
import math

import pytest
import torch

from tuwen.trainer.model import MAX_LOGIT_SCALE, build_model
from tuwen.trainer.step import StepOptions, TrainStep
from tuwen.trainer.train import lr_at, param_groups

OVERRIDES = dict(embed_dim=32, vision={"image_size": 32, "width": 64, "layers": 2, "heads": 2},
                 text={"hidden_size": 64, "layers": 2, "heads": 2, "intermediate_size": 128})


def test_contrastive_loss_falls_on_a_fixed_batch_through_the_training_step():
    torch.manual_seed(0)
    model = build_model("tiny", **OVERRIDES)
    stepper = TrainStep(model, StepOptions(precision="bf16"))
    opt = torch.optim.AdamW(param_groups(list(model.named_parameters()), 0.1), lr=1e-3, betas=(0.9, 0.98), eps=1e-6)
    g = torch.Generator().manual_seed(0)
    images = torch.randn(16, 3, 32, 32, generator=g)
    ids = torch.randint(670, 8000, (16, 10), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102
    losses = []
    for step in range(20):
        for group in opt.param_groups:
            group["lr"] = lr_at(step / 20, step, 1e-3, 3)
        opt.zero_grad(set_to_none=True)
        losses.append(stepper.step(images, ids)["loss"])
        opt.step()
        stepper.after_optimizer_step()
    assert losses[0] > math.log(16) - 0.2
    assert losses[-1] < 0.75 * losses[0]


def test_logit_scale_is_clamped_after_each_step():
    model = build_model("tiny", **OVERRIDES)
    stepper = TrainStep(model, StepOptions())
    with torch.no_grad():
        model.logit_scale.fill_(7.0)
    stepper.after_optimizer_step()
    assert float(model.logit_scale.detach()) == pytest.approx(MAX_LOGIT_SCALE, abs=1e-6)


def test_weight_decay_skips_norms_biases_embeddings_and_the_logit_scale():
    model = build_model("tiny", **OVERRIDES)
    decay, no_decay = param_groups(list(model.named_parameters()), 0.1)
    decayed = {id(p) for p in decay["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in decayed}
    assert "visual.transformer.resblocks.0.attn.in_proj_weight" in names
    assert "bert.encoder.layer.0.attention.self.query.weight" in names
    assert not any(n.endswith("bias") or "LayerNorm" in n or "embedding" in n or n == "logit_scale" for n in names)
    assert no_decay["weight_decay"] == 0.0
