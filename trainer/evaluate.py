"""Retrieval recall (image->text, text->image at 1/5/10) and zero-shot classification of a dual encoder.

An image counts as found by image->text retrieval when any of its captions is in the top K; a caption counts as found
by text->image retrieval when its own image is in the top K. Figures are percentages.
"""
from __future__ import annotations

import torch

from .data import EvalSet

KS = (1, 5, 10)
# Chinese prompt templates for zero-shot classification (CLIP's prompt ensembling, Chinese-CLIP style wording).
ZERO_SHOT_TEMPLATES = ("{}", "一张{}的照片。", "一张关于{}的图片。", "这是{}。", "照片里是{}。", "{}的照片。")


@torch.no_grad()
def embed_images(model, preprocess, loaders, batch_size: int = 64, autocast=None) -> torch.Tensor:
    from contextlib import nullcontext

    autocast = autocast or nullcontext
    device = next(model.parameters()).device
    out = []
    for s in range(0, len(loaders), batch_size):
        pixels = torch.stack([preprocess(load()) for load in loaders[s : s + batch_size]]).to(device)
        with autocast():
            out.append(model.encode_image(pixels).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, model.config["embed_dim"])


@torch.no_grad()
def embed_texts(model, tokenizer, texts, batch_size: int = 256, autocast=None) -> torch.Tensor:
    from contextlib import nullcontext

    autocast = autocast or nullcontext
    device = next(model.parameters()).device
    out = []
    for s in range(0, len(texts), batch_size):
        with autocast():
            out.append(model.encode_text(tokenizer(texts[s : s + batch_size]).to(device)).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, model.config["embed_dim"])


def retrieval_recall(image_emb: torch.Tensor, text_emb: torch.Tensor, caption_image) -> dict:
    """Recall@K both ways from normalised embeddings; ``caption_image[j]`` is the image index of caption j."""
    owner = torch.as_tensor(caption_image)
    sim = image_emb @ text_emb.t()  # [images, captions]
    out = {}
    kmax = max(KS)
    # image -> text: rank of the best-ranked own caption
    top_t = sim.topk(min(kmax, sim.shape[1]), dim=1).indices          # [I, k]
    hit_t = owner[top_t] == torch.arange(sim.shape[0])[:, None]        # [I, k]
    # text -> image
    top_i = sim.t().topk(min(kmax, sim.shape[0]), dim=1).indices       # [T, k]
    hit_i = top_i == owner[:, None]
    for k in KS:
        out[f"i2t_r{k}"] = 100.0 * hit_t[:, :k].any(dim=1).float().mean().item()
        out[f"t2i_r{k}"] = 100.0 * hit_i[:, :k].any(dim=1).float().mean().item()
    out["mean_recall"] = sum(out[f"{d}_r{k}"] for d in ("i2t", "t2i") for k in KS) / 6
    return out


def evaluate_retrieval(model, tokenizer, preprocess, data: EvalSet, autocast=None) -> dict:
    model.eval()
    img = embed_images(model, preprocess, data.images, autocast=autocast)
    txt = embed_texts(model, tokenizer, data.captions, autocast=autocast)
    res = retrieval_recall(img, txt, data.caption_image)
    res.update(images=len(data.images), captions=len(data.captions))
    return res


def zero_shot_top1(model, tokenizer, preprocess, data: EvalSet, class_names, autocast=None) -> float:
    """Top-1 accuracy (percent) of picking each image's ``label`` among ``class_names`` by prompt-ensembled text."""
    if data.labels is None:
        raise ValueError("zero-shot needs a manifest whose rows carry `label`")
    unknown = sorted({lab for lab in data.labels if lab not in class_names})
    if unknown:
        raise ValueError(f"labels not in the class list: {unknown[:5]}")
    model.eval()
    class_emb = []
    for name in class_names:
        e = embed_texts(model, tokenizer, [t.format(name) for t in ZERO_SHOT_TEMPLATES], autocast=autocast)
        class_emb.append(torch.nn.functional.normalize(e.mean(0), dim=-1))
    class_emb = torch.stack(class_emb)
    img = embed_images(model, preprocess, data.images, autocast=autocast)
    pred = (img @ class_emb.t()).argmax(dim=1)
    target = torch.tensor([class_names.index(lab) for lab in data.labels])
    return 100.0 * (pred == target).float().mean().item()
