"""Training losses as small functions and modules, each testable on its own.

- ``contrastive_loss``: CLIP's bidirectional image-text InfoNCE with the learnt temperature (logit scale).
- ``distillation_contrastive_loss``: ALBEF-style momentum distillation: in-batch student negatives plus a queue of
  teacher embeddings, targets mixing one-hot with the teacher's softmax (alpha). alpha=0 and an empty queue reduce it
  exactly to ``contrastive_loss``.
- ``MLMHead`` / ``mask_tokens``: BERT masked-language modelling on the text tower.
- ``ImageSSLHead`` / ``augment_views``: SimCLR-style image self-supervision (two augmented views, NT-Xent), as SLIP adds
  to CLIP.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def contrastive_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy; row i of each is a positive pair. Embeddings normalised."""
    logits = logit_scale.exp() * image_emb.float() @ text_emb.float().t()
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def _soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(F.log_softmax(logits, dim=1) * targets).sum(dim=1).mean()


def distillation_contrastive_loss(image_emb, text_emb, logit_scale, teacher_image, teacher_text,
                                  queue_image=None, queue_text=None, alpha: float = 0.4) -> torch.Tensor:
    """ALBEF-style loss. Candidates for image i: the batch's student texts, then the queued teacher texts (and vice
    versa). Targets: (1 - alpha) one-hot + alpha softmax of the teacher's similarities over the same candidates."""
    scale = logit_scale.exp()
    img, txt = image_emb.float(), text_emb.float()
    b = img.shape[0]
    qi = queue_image.float() if queue_image is not None and len(queue_image) else img.new_zeros(0, img.shape[1])
    qt = queue_text.float() if queue_text is not None and len(queue_text) else img.new_zeros(0, img.shape[1])
    i2t = scale * img @ torch.cat([txt, qt]).t()
    t2i = scale * txt @ torch.cat([img, qi]).t()
    onehot = torch.zeros_like(i2t)
    onehot[torch.arange(b), torch.arange(b)] = 1.0
    if alpha > 0:
        with torch.no_grad():
            ti, tt = teacher_image.float(), teacher_text.float()
            ti2t = F.softmax(scale * ti @ torch.cat([tt, qt]).t(), dim=1)
            tt2i = F.softmax(scale * tt @ torch.cat([ti, qi]).t(), dim=1)
        target_i2t = alpha * ti2t + (1 - alpha) * onehot
        target_t2i = alpha * tt2i + (1 - alpha) * onehot
    else:
        target_i2t = target_t2i = onehot
    return (_soft_cross_entropy(i2t, target_i2t) + _soft_cross_entropy(t2i, target_t2i)) / 2


class EmbeddingQueue:
    """FIFO of the teacher's most recent image and text embeddings (the extra negatives)."""

    def __init__(self, size: int, dim: int):
        self.size = size
        self.image = torch.zeros(0, dim)
        self.text = torch.zeros(0, dim)

    def push(self, image: torch.Tensor, text: torch.Tensor) -> None:
        if self.size <= 0:
            return
        self.image = torch.cat([image.detach().float().cpu(), self.image])[: self.size]
        self.text = torch.cat([text.detach().float().cpu(), self.text])[: self.size]

    def state_dict(self) -> dict:
        return {"size": self.size, "image": self.image, "text": self.text}

    def load_state_dict(self, state: dict) -> None:
        self.size, self.image, self.text = state["size"], state["image"], state["text"]


@torch.no_grad()
def ema_update_(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """teacher <- momentum * teacher + (1 - momentum) * student, parameter by parameter."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)


def mask_tokens(ids: torch.Tensor, vocab_size: int, mask_id: int, special_ids: set[int], prob: float = 0.15,
                generator: torch.Generator | None = None):
    """BERT masking: pick ``prob`` of the non-special tokens; of those 80% -> [MASK], 10% random, 10% kept.
    Returns (masked ids, labels with -100 where not predicted)."""
    rand = lambda: torch.rand(ids.shape, generator=generator, device=ids.device)  # noqa: E731
    maskable = torch.ones_like(ids, dtype=torch.bool)
    for s in special_ids:
        maskable &= ids.ne(s)
    chosen = (rand() < prob) & maskable
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    masked = ids.clone()
    to_mask = chosen & (rand() < 0.8)
    masked[to_mask] = mask_id
    to_random = chosen & ~to_mask & (rand() < 0.5)
    random_ids = torch.randint(len(special_ids), vocab_size, ids.shape, generator=generator, device=ids.device)
    masked[to_random] = random_ids[to_random]
    return masked, labels


class MLMHead(nn.Module):
    """BERT's prediction head: dense + GELU + LayerNorm, decoder tied to the word embeddings."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=1e-12)

    def forward(self, hidden: torch.Tensor, word_embeddings: nn.Embedding) -> torch.Tensor:
        h = self.norm(F.gelu(self.dense(hidden)))
        return h @ word_embeddings.weight.t()


def mlm_loss(model, head: MLMHead, masked_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    keep = labels.ne(-100)
    if not keep.any():
        return masked_ids.new_zeros((), dtype=torch.float32)
    hidden = model.text_hidden(masked_ids)
    keep = keep[:, : hidden.shape[1]]
    labels = labels[:, : hidden.shape[1]]
    hidden = hidden[keep]
    logits = head(hidden, model.bert.embeddings.word_embeddings)
    return F.cross_entropy(logits.float(), labels[keep])


class ImageSSLHead(nn.Module):
    """SimCLR projection MLP on the image tower's (unnormalised) output."""

    def __init__(self, in_dim: int, hidden: int = 256, out_dim: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, x):
        return F.normalize(self.net(x), dim=-1)


def augment_views(pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A cheap random view of already-normalised images: random crop (50-100% side) resized back, random flip,
    brightness/contrast jitter. Per-sample randomness from ``generator`` (or torch's global RNG)."""
    b, _, h, w = pixels.shape
    out = torch.empty_like(pixels)
    r = torch.rand(b, 6, generator=generator)
    for i in range(b):
        side = 0.5 + 0.5 * r[i, 0].item()
        ch, cw = max(1, int(h * side)), max(1, int(w * side))
        top, left = int((h - ch) * r[i, 1].item()), int((w - cw) * r[i, 2].item())
        crop = pixels[i : i + 1, :, top : top + ch, left : left + cw]
        view = F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]
        if r[i, 3] < 0.5:
            view = view.flip(-1)
        view = (view - view.mean()) * (0.6 + 0.8 * r[i, 4].item()) + view.mean() + (r[i, 5].item() - 0.5)
        out[i] = view
    return out


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's loss for two normalised views: each view must pick its partner among the other 2B-1 embeddings."""
    z = torch.cat([a, b]).float()
    n = a.shape[0]
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def image_ssl_loss(model, head: ImageSSLHead, pixels: torch.Tensor, generator=None) -> torch.Tensor:
    v1, v2 = augment_views(pixels, generator), augment_views(pixels, generator)
    feats = model.encode_image(torch.cat([v1, v2]), normalize=False)
    z = head(feats)
    return nt_xent(z[: len(pixels)], z[len(pixels):])
