"""Gradient cache: same gradients as the plain full batch; replayed chunks reproduce their cached embeddings."""
import torch

from tuwen.trainer.grad_cache import grad_cache_backward
from tuwen.trainer.loss import contrastive_loss
from tuwen.trainer.model import build_model

OVERRIDES = dict(embed_dim=32, vision={"image_size": 32, "width": 64, "layers": 2, "heads": 2},
                 text={"hidden_size": 64, "layers": 2, "heads": 2, "intermediate_size": 128})


def _batch(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(106, 21128, (n, 10), generator=g)
    ids[:, 0] = 101
    ids[n // 2 :, 7:] = 0  # some padding
    return torch.randn(n, 3, 32, 32, generator=g), ids


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def test_grad_cache_gradients_equal_full_batch_gradients_with_dropout_off():
    torch.manual_seed(0)
    model = build_model("tiny", dropout=0.0, **OVERRIDES).double()
    images, ids = _batch()
    images = images.double()
    model.zero_grad()
    a, b, _ = model(images, ids)
    contrastive_loss(a, b, model.logit_scale).backward()
    full = _grads(model)
    model.zero_grad()
    grad_cache_backward(model, images, ids, 5, lambda i, t: contrastive_loss(i, t, model.logit_scale))
    cached = _grads(model)
    assert set(cached) == set(full)
    total = torch.cat([g.flatten() for g in full.values()]).norm()
    for name, g in full.items():
        # Key biases have a mathematically zero gradient (softmax ignores a constant shift); measure those against
        # the whole gradient's scale rather than their own rounding noise.
        rel = (cached[name] - g).norm() / torch.maximum(g.norm(), 1e-6 * total)
        assert rel <= 1e-5, (name, float(rel))


def test_grad_cache_gradients_equal_full_batch_in_float32_too():
    torch.manual_seed(0)
    model = build_model("tiny", dropout=0.0, **OVERRIDES)
    images, ids = _batch()
    model.zero_grad()
    a, b, _ = model(images, ids)
    contrastive_loss(a, b, model.logit_scale).backward()
    full = _grads(model)
    model.zero_grad()
    grad_cache_backward(model, images, ids, 4, lambda i, t: contrastive_loss(i, t, model.logit_scale))
    total = torch.cat([g.flatten() for g in full.values()])
    diff = torch.cat([(_grads(model)[n] - g).flatten() for n, g in full.items()])
    assert diff.norm() / total.norm() <= 1e-5


def test_replayed_chunks_equal_cached_embeddings_bit_for_bit_with_dropout_on():
    torch.manual_seed(0)
    model = build_model("tiny", dropout=0.3, **OVERRIDES).train()
    images, ids = _batch()
    res = grad_cache_backward(model, images, ids, 5, lambda i, t: contrastive_loss(i, t, model.logit_scale),
                              keep_embeddings=True)
    assert len(res.cached) == len(res.replayed) == 3
    for (ci, ct), (ri, rt) in zip(res.cached, res.replayed):
        assert torch.equal(ci, ri) and torch.equal(ct, rt)
    # and dropout really is active: another pass with fresh randomness gives different text embeddings
    with torch.no_grad():
        again = model.encode_text(ids[:5])
    assert not torch.equal(again, res.cached[0][1])


def test_replayed_chunks_keep_the_same_patches_with_patch_dropout():
    from tuwen.trainer.train import set_patch_dropout

    torch.manual_seed(0)
    model = build_model("tiny", **OVERRIDES).train()
    set_patch_dropout(model, 0.5)
    images, ids = _batch()
    res = grad_cache_backward(model, images, ids, 5, lambda i, t: contrastive_loss(i, t, model.logit_scale),
                              keep_embeddings=True)
    for (ci, _), (ri, _) in zip(res.cached, res.replayed):
        assert torch.equal(ci, ri)
    with torch.no_grad():
        again = model.encode_image(images[:5])
    assert not torch.equal(again, res.cached[0][0])  # other patches dropped on a fresh pass


def test_towers_have_no_batchnorm():
    for name in ("tiny", "small"):
        model = build_model(name)
        assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
