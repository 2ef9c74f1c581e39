"""Losses of the trainer: contrastive, momentum distillation, EMA teacher, MLM and image self-supervision."""
import math

import pytest
import torch
import torch.nn.functional as F

from tuwen.trainer.loss import (EmbeddingQueue, ImageSSLHead, MLMHead, contrastive_loss,
                                distillation_contrastive_loss, ema_update_, image_ssl_loss, mask_tokens, mlm_loss)
from tuwen.trainer.model import MAX_LOGIT_SCALE, build_model
from tuwen.trainer.tokenizer import ChineseWordPieceTokenizer

TINY_OVERRIDES = dict(embed_dim=32, vision={"image_size": 32, "width": 64, "layers": 1, "heads": 2},
                      text={"hidden_size": 64, "layers": 1, "heads": 2, "intermediate_size": 128})


def _emb(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g), dim=-1)


def test_contrastive_loss_matches_a_hand_computed_value():
    img, txt = _emb(4, 8, 0), _emb(4, 8, 1)
    scale = torch.tensor(math.log(10.0))
    logits = 10.0 * img @ txt.t()
    i2t = -sum(torch.log_softmax(logits[i], 0)[i] for i in range(4)) / 4
    t2i = -sum(torch.log_softmax(logits[:, i], 0)[i] for i in range(4)) / 4
    assert torch.allclose(contrastive_loss(img, txt, scale), (i2t + t2i) / 2, atol=1e-6)


def test_contrastive_loss_is_low_for_aligned_pairs_and_ln_b_for_identical_embeddings():
    img = _emb(8, 16, 0)
    assert contrastive_loss(img, img, torch.tensor(MAX_LOGIT_SCALE)) < 0.01
    same = torch.ones(8, 16) / 4
    assert torch.allclose(contrastive_loss(same, same, torch.tensor(2.0)), torch.tensor(math.log(8)), atol=1e-5)


def test_distillation_with_alpha_0_and_empty_queue_equals_plain_loss():
    img, txt, ti, tt = _emb(6, 8, 0), _emb(6, 8, 1), _emb(6, 8, 2), _emb(6, 8, 3)
    scale = torch.tensor(2.5, requires_grad=True)
    empty = EmbeddingQueue(16, 8)
    d = distillation_contrastive_loss(img, txt, scale, ti, tt, empty.image, empty.text, alpha=0.0)
    assert torch.allclose(d, contrastive_loss(img, txt, scale), atol=1e-6)


def test_distillation_queue_adds_negatives_and_alpha_moves_the_loss():
    img, txt, ti, tt = _emb(6, 8, 0), _emb(6, 8, 1), _emb(6, 8, 2), _emb(6, 8, 3)
    scale = torch.tensor(2.5)
    q = EmbeddingQueue(4, 8)
    q.push(_emb(3, 8, 4), _emb(3, 8, 5))
    q.push(_emb(3, 8, 6), _emb(3, 8, 7))
    assert q.image.shape == (4, 8)  # FIFO capped at its size, newest first
    assert torch.equal(q.image[:3], _emb(3, 8, 6))
    plain = contrastive_loss(img, txt, scale)
    with_queue = distillation_contrastive_loss(img, txt, scale, ti, tt, q.image, q.text, alpha=0.0)
    assert with_queue > plain  # more negatives, same positives
    mixed = distillation_contrastive_loss(img, txt, scale, ti, tt, q.image, q.text, alpha=0.5)
    assert not torch.allclose(mixed, with_queue)


def test_teacher_is_the_ema_of_the_student_after_k_steps():
    torch.manual_seed(0)
    student = build_model("tiny", **TINY_OVERRIDES)
    teacher = build_model("tiny", **TINY_OVERRIDES)
    teacher.load_state_dict(student.state_dict())
    m, k = 0.9, 4
    expected = {n: p.detach().clone() for n, p in teacher.named_parameters()}
    opt = torch.optim.SGD(student.parameters(), lr=0.5)
    imgs, ids = torch.randn(4, 3, 32, 32), torch.randint(106, 21128, (4, 7))
    for _ in range(k):
        opt.zero_grad()
        a, b, _ = student(imgs, ids)
        contrastive_loss(a, b, student.logit_scale).backward()
        opt.step()
        ema_update_(teacher, student, m)
        for n, p in student.named_parameters():
            expected[n] = m * expected[n] + (1 - m) * p.detach()
    moved = 0
    for n, p in teacher.named_parameters():
        assert torch.allclose(p, expected[n], atol=1e-6), n
        moved += int(not torch.equal(p, dict(student.named_parameters())[n]))
    assert moved > 0  # the teacher lags the student, it is not a copy


def test_mask_tokens_never_masks_specials_and_labels_only_chosen():
    tok = ChineseWordPieceTokenizer()
    ids = tok(["一只小狗在草地上奔跑，旁边有一个小女孩"] * 8)
    g = torch.Generator().manual_seed(0)
    masked, labels = mask_tokens(ids, len(tok), tok.mask_id, tok.special_ids, 0.3, g)
    chosen = labels.ne(-100)
    assert chosen.any()
    for s in (tok.pad_id, tok.cls_id, tok.sep_id):
        assert not chosen[ids.eq(s)].any()
        assert torch.equal(masked.eq(s), ids.eq(s))
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(masked[~chosen], ids[~chosen])
    assert masked[chosen].eq(tok.mask_id).float().mean() > 0.5


@pytest.mark.slow
def test_mlm_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    tok = ChineseWordPieceTokenizer()
    model = build_model("tiny", **TINY_OVERRIDES)
    head = MLMHead(64)
    ids = tok(["一个红色的圆形", "两只狗在草地上跑", "小女孩穿着裙子", "一个人在骑自行车"])
    g = torch.Generator().manual_seed(1)
    masked, labels = mask_tokens(ids, len(tok), tok.mask_id, tok.special_ids, 0.3, g)
    opt = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=2e-3)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = mlm_loss(model, head, masked, labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.slow
def test_image_ssl_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    from tuwen.trainer.synthetic import synthetic_pairs
    from tuwen.trainer.data import decode_image
    from tuwen.trainer.model import image_preprocess

    model = build_model("tiny", **TINY_OVERRIDES)
    head = ImageSSLHead(32)
    pre = image_preprocess(32)
    pixels = torch.stack([pre(decode_image(s["jpg"])) for s in synthetic_pairs(16, size=32)])
    opt = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = image_ssl_loss(model, head, pixels, g)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.85 * first
