"""The relevance filter's Beam-free core: the scorer's settings, and scores from fixed-size batches.

``tuwen run`` (through ``pipeline/relevance.py``'s ModelHandler) and ``tuwen calibrate`` both score with
:func:`score_batch`, so a pair scores the same in both. Importing this module costs neither Beam nor torch; the
scorer itself (loading, preprocessing, embedding) is ``tuwen.trainer.scoring``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

DEFAULT_THRESHOLD = 0.3  # the seed's value for its model; thresholds do not carry across models (tuwen calibrate)
DEFAULT_BATCH_SIZE = 16
SCORE_DECIMALS = 4


@dataclass(frozen=True)
class ScorerConfig:
    """What the workers need to load and run the scorer (small and picklable)."""
    spec: str
    threshold: float
    batch_size: int
    device: str
    precision: str
    threads: int
    large_model: bool
    model_copies: Optional[int]
    write_embeddings: bool
    weights_sha256: str = ""  # filled in on the launching machine, which loads and checks the scorer first
    image_size: int = 0  # the model's input side, filled in with the sha256: images are decoded no larger


def round_score(value: float) -> float:
    return round(float(value), SCORE_DECIMALS)


def embed_in_batches(scorer, images: Sequence, texts: Optional[Sequence[str]], batch_size: int):
    """(image embeddings [N, D], text embeddings [N, D]) of aligned decoded images (or their preprocessed arrays) and
    texts, in batches of exactly ``batch_size`` (the last padded by repeating its final pair): a row's bits never
    depend on its neighbours. ``texts`` None: the images alone (the text embeddings come back [0, D])."""
    import numpy as np

    imgs, txts = [], []
    for start in range(0, len(images), batch_size):
        ims = list(images[start:start + batch_size])
        n = len(ims)
        ims += [ims[-1]] * (batch_size - n)
        pixels = np.stack([im if isinstance(im, np.ndarray) else scorer.preprocess(im) for im in ims])
        if texts is None:
            img, _ = scorer.embed(pixels, scorer.tokenize([]))
        else:
            txs = list(texts[start:start + batch_size])
            txs += [txs[-1]] * (batch_size - n)
            img, txt = scorer.embed(pixels, scorer.tokenize(txs))
            txts.append(txt[:n])
        imgs.append(img[:n])
    if not imgs:
        return np.zeros((0, scorer.embed_dim), np.float32), np.zeros((0, scorer.embed_dim), np.float32)
    return np.concatenate(imgs), (np.concatenate(txts) if txts else np.zeros((0, scorer.embed_dim), np.float32))


def pair_scores(img, txt) -> list[float]:
    """The score of each row pair: the cosine of the L2-normalised embeddings, summed in float64, rounded."""
    import numpy as np

    cos = (np.asarray(img, np.float64) * np.asarray(txt, np.float64)).sum(axis=1)
    return [round_score(c) for c in cos]


def score_batch(scorer, images: Sequence, texts: Sequence[str], batch_size: int, with_embeddings: bool = False):
    """[(score, (image_emb, text_emb) as float16 or None)] for aligned images and texts (the pipeline's handler)."""
    import numpy as np

    img, txt = embed_in_batches(scorer, images, texts, batch_size)
    scores = pair_scores(img, txt)
    if not with_embeddings:
        return [(s, None) for s in scores]
    return [(s, (i.astype(np.float16), t.astype(np.float16))) for s, i, t in zip(scores, img, txt)]
