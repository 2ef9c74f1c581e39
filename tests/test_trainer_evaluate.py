"""Retrieval recall on embeddings whose answers are known."""
import pytest
import torch
import torch.nn.functional as F

from tuwen.trainer.evaluate import retrieval_recall


def test_perfect_embeddings_give_100_everywhere():
    e = torch.eye(12)
    res = retrieval_recall(e, e, list(range(12)))
    assert all(res[k] == 100.0 for k in res)


def test_image_found_when_any_of_its_captions_is_in_top_k():
    # 2 images, 3 captions; image 0 owns captions 0 and 1; caption 1 matches image 0, caption 0 matches image 1.
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = F.normalize(torch.tensor([[0.1, 1.0], [1.0, 0.0], [0.0, 1.0]]), dim=-1)
    res = retrieval_recall(img, txt, [0, 0, 1])
    assert res["i2t_r1"] == 100.0  # image 0 finds caption 1 (its own) first; image 1 finds caption 2
    assert res["t2i_r1"] == pytest.approx(200 / 3)  # caption 0 retrieves image 1 first
    assert res["t2i_r5"] == 100.0
    keys = [f"{d}_r{k}" for d in ("i2t", "t2i") for k in (1, 5, 10)]
    assert res["mean_recall"] == pytest.approx(sum(res[k] for k in keys) / 6)


def test_random_embeddings_give_chance_level_r1():
    g = torch.Generator().manual_seed(0)
    img = F.normalize(torch.randn(200, 64, generator=g), dim=-1)
    txt = F.normalize(torch.randn(200, 64, generator=g), dim=-1)
    assert retrieval_recall(img, txt, list(range(200)))["t2i_r1"] < 5
