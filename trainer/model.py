"""The two-tower model: an open_clip ViT image tower and a BERT-style Chinese text tower.

Parameter names follow Chinese-CLIP exactly (``visual.*`` is OpenAI/open_clip's ViT layout, ``bert.*`` is Hugging Face
BERT's, plus ``text_projection`` and ``logit_scale``), so a Chinese-CLIP ViT-B-16 state dict loads strictly into
``base``. The image tower comes from open_clip (QuickGELU, CLS pooling, as Chinese-CLIP); open_clip's own BERT tower
needs ``transformers`` and the hub, so the text tower is plain torch here. No BatchNorm anywhere (the gradient cache
replays chunks and BatchNorm would see different batch statistics).

Variants are JSON files in ``configs/`` (tiny, small, base); ``build_model(name, **overrides)`` builds one.
"""
from __future__ import annotations

import copy
import json
import math
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from open_clip.transformer import QuickGELU, VisionTransformer

MODEL_NAMES = ("tiny", "small", "base")
INIT_LOGIT_SCALE = math.log(1 / 0.07)
MAX_LOGIT_SCALE = math.log(100.0)  # CLIP clamps the learnt temperature so logits are at most 100x cosine.
PAD_ID = 0


def model_config(name: str) -> dict:
    """The JSON config of a named variant (a copy; safe to edit)."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    text = resources.files("tuwen.trainer").joinpath("configs", f"{name}.json").read_text(encoding="utf-8")
    cfg = json.loads(text)
    cfg["name"] = name
    return cfg


def apply_overrides(cfg: dict, **overrides) -> dict:
    """``dropout=P`` sets both text dropouts; ``vision={...}``/``text={...}`` merge; other keys replace."""
    cfg = copy.deepcopy(cfg)
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "dropout":
            cfg["text"]["hidden_dropout"] = float(value)
            cfg["text"]["attention_dropout"] = float(value)
        elif key in ("vision", "text") and isinstance(value, dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


class BertEmbeddings(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=PAD_ID)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=1e-12)
        self.dropout = nn.Dropout(c["hidden_dropout"])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(pos)[None] + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        h = c["hidden_size"]
        self.heads = c["heads"]
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.attention_dropout = c["attention_dropout"]

    def forward(self, x: torch.Tensor, attn_bias: torch.Tensor) -> torch.Tensor:
        b, n, h = x.shape
        split = lambda t: t.view(b, n, self.heads, h // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        p = self.attention_dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias.to(q.dtype), dropout_p=p)
        return out.transpose(1, 2).reshape(b, n, h)


class BertSelfOutput(nn.Module):
    def __init__(self, c: dict, in_size: int):
        super().__init__()
        self.dense = nn.Linear(in_size, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=1e-12)
        self.dropout = nn.Dropout(c["hidden_dropout"])

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c, c["hidden_size"])

    def forward(self, x, attn_bias):
        return self.output(self.self(x, attn_bias), x)


class BertIntermediate(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # erf GELU, as BERT/Chinese-CLIP


class BertLayer(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertSelfOutput(c, c["intermediate_size"])

    def forward(self, x, attn_bias):
        x = self.attention(x, attn_bias)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["layers"])])

    def forward(self, x, attn_bias):
        for layer in self.layer:
            x = layer(x, attn_bias)
        return x


class BertTextTower(nn.Module):
    """BERT encoder (RoBERTa-wwm style, as Chinese-CLIP); returns the last hidden states [B, L, H]."""

    def __init__(self, c: dict):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        # Trailing columns that are padding in every row change nothing (padding is masked out as keys and no
        # output reads those positions' states for the embedding), so drop them: captions are much shorter than 52.
        used = int(ids.ne(PAD_ID).sum(dim=1).max().item()) if ids.numel() else 0
        ids = ids[:, : max(1, used)]
        # Additive mask: padding keys get -inf-like bias so no query attends to them.
        keep = ids.ne(PAD_ID)
        attn_bias = torch.zeros(ids.shape, dtype=torch.float32, device=ids.device).masked_fill(~keep, -1e4)
        return self.encoder(self.embeddings(ids), attn_bias[:, None, None, :])


class DualEncoder(nn.Module):
    """CLIP-style two-tower model. ``encode_image``/``encode_text`` return L2-normalised embeddings."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.config = copy.deepcopy(cfg)
        v, t = cfg["vision"], cfg["text"]
        self.visual = VisionTransformer(
            image_size=v["image_size"], patch_size=v["patch_size"], width=v["width"], layers=v["layers"],
            heads=v["heads"], mlp_ratio=v["mlp_ratio"], output_dim=cfg["embed_dim"], act_layer=QuickGELU)
        self.bert = BertTextTower(t)
        self.text_projection = nn.Parameter(torch.randn(t["hidden_size"], cfg["embed_dim"]) * t["hidden_size"] ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(INIT_LOGIT_SCALE))

    @property
    def context_length(self) -> int:
        return self.config["text"]["context_length"]

    @property
    def image_size(self) -> int:
        return self.config["vision"]["image_size"]

    def encode_image(self, pixels: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        x = self.visual(pixels)
        return F.normalize(x, dim=-1) if normalize else x

    def text_hidden(self, ids: torch.Tensor) -> torch.Tensor:
        """Last hidden states of the text tower (the MLM head reads these); trailing all-padding columns are cut,
        so the result may be shorter than ``ids``."""
        return self.bert(ids)

    def encode_text(self, ids: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        x = self.bert(ids)[:, 0] @ self.text_projection  # the [CLS] token, as Chinese-CLIP
        return F.normalize(x, dim=-1) if normalize else x

    def forward(self, pixels: torch.Tensor, ids: torch.Tensor):
        return self.encode_image(pixels), self.encode_text(ids), self.logit_scale.exp()

    def clamp_logit_scale_(self) -> None:
        with torch.no_grad():
            self.logit_scale.clamp_(0, MAX_LOGIT_SCALE)


def build_model(name: str = "tiny", **overrides) -> DualEncoder:
    """Build a named variant (tiny, small, base) with optional overrides (``dropout=0.1``, ``embed_dim=...``)."""
    cfg = apply_overrides(model_config(name), **overrides) if name in MODEL_NAMES else None
    if cfg is None:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return DualEncoder(cfg)


def build_model_from_config(cfg: dict) -> DualEncoder:
    """Build from a saved ``config.json`` (what checkpoints store)."""
    return DualEncoder(cfg)


def image_preprocess(image_size: int):
    """PIL image -> normalised tensor: resize the short side, centre crop, CLIP mean/std (open_clip's eval transform)."""
    from torchvision import transforms as T

    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    return T.Compose([
        T.Resize(image_size, interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(image_size),
        lambda im: im.convert("RGB"),
        T.ToTensor(),
        T.Normalize(OPENAI_DATASET_MEAN, OPENAI_DATASET_STD),
    ])


def load_config_file(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
