"""One optimisation step's gradient: contrastive loss over the global batch (embeddings gathered across ranks), with
the optional gradient cache, momentum distillation, MLM and image self-supervision. The optimizer lives in train.py.

Across ranks every rank computes the same global contrastive loss but only its own slice carries a graph, so the
*sum* of parameter gradients over ranks is the global gradient (``sum_gradients_``); the shared logit scale and the
per-rank auxiliary losses are scaled by 1/world so they are counted once.
"""
from __future__ import annotations

import copy
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from .distributed import DistInfo, gather_no_grad, gather_with_local_grad, shared_param_view, sum_gradients_
from .grad_cache import grad_cache_backward
from .loss import (EmbeddingQueue, ImageSSLHead, MLMHead, contrastive_loss, distillation_contrastive_loss,
                   ema_update_, image_ssl_loss, mask_tokens, mlm_loss)


@dataclass
class StepOptions:
    precision: str = "fp32"          # fp32 | bf16 | fp16
    grad_cache_chunk: int = 0        # samples per chunk; 0 = no gradient cache
    distill: bool = False
    distill_alpha: float = 0.4
    distill_momentum: float = 0.995
    distill_queue: int = 1024
    mlm_weight: float = 0.0          # 0 = off
    mlm_prob: float = 0.15
    image_ssl_weight: float = 0.0    # 0 = off
    seed: int = 0


def autocast_for(precision: str, device: torch.device):
    if precision == "fp32":
        return nullcontext
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


class TrainStep:
    """Holds the model, the optional teacher/queue/heads and their RNG; ``step(images, ids)`` fills ``.grad``."""

    def __init__(self, model, opts: StepOptions, info: DistInfo | None = None, tokenizer=None,
                 device: torch.device | None = None):
        self.model, self.opts = model, opts
        self.info = info or DistInfo()
        self.device = device or torch.device("cpu")
        self.autocast = autocast_for(opts.precision, self.device)
        self.tokenizer = tokenizer
        self.teacher = None
        self.queue = None
        if opts.distill:
            self.teacher = copy.deepcopy(model).eval()  # the teacher never uses dropout
            for p in self.teacher.parameters():
                p.requires_grad_(False)
            self.queue = EmbeddingQueue(opts.distill_queue, model.config["embed_dim"])
        self.mlm_head = MLMHead(model.config["text"]["hidden_size"]).to(self.device) if opts.mlm_weight > 0 else None
        self.ssl_head = (ImageSSLHead(model.config["embed_dim"]).to(self.device)
                         if opts.image_ssl_weight > 0 else None)
        # Randomness of the auxiliary tasks (masks, views) is separate from dropout's and checkpointed.
        self.generator = torch.Generator().manual_seed(opts.seed * 7919 + self.info.rank)

    def parameters(self):
        """Every trained parameter: the model's and the auxiliary heads'."""
        params = list(self.model.parameters())
        for head in (self.mlm_head, self.ssl_head):
            if head is not None:
                params += list(head.parameters())
        return params

    def _objective(self, teacher_img, teacher_txt):
        info, model, opts = self.info, self.model, self.opts

        def objective(img_local, txt_local):
            img = gather_with_local_grad(img_local, info)
            txt = gather_with_local_grad(txt_local, info)
            scale = shared_param_view(model.logit_scale, info)
            if opts.distill:
                return distillation_contrastive_loss(img, txt, scale, teacher_img, teacher_txt, self.queue.image,
                                                     self.queue.text, opts.distill_alpha)
            return contrastive_loss(img, txt, scale)

        return objective

    def _aux_losses(self, images, ids) -> dict:
        out = {}
        if self.mlm_head is not None:
            masked, labels = mask_tokens(ids.cpu(), len(self.tokenizer), self.tokenizer.mask_id,
                                         self.tokenizer.special_ids, self.opts.mlm_prob, self.generator)
            with self.autocast():
                out["mlm"] = mlm_loss(self.model, self.mlm_head, masked.to(ids.device), labels.to(ids.device))
        if self.ssl_head is not None:
            with self.autocast():
                out["image_ssl"] = image_ssl_loss(self.model, self.ssl_head, images, self.generator)
        return out

    def step(self, images: torch.Tensor, ids: torch.Tensor, scale_loss=None, keep_embeddings: bool = False) -> dict:
        """Accumulate this rank's share of the global gradient into ``.grad`` (then summed over ranks).
        Returns float losses (this rank's view; the contrastive loss is the global one)."""
        opts, info, model = self.opts, self.info, self.model
        scale_loss = scale_loss or (lambda x: x)
        teacher_img = teacher_txt = None
        if self.teacher is not None:
            with torch.no_grad(), self.autocast():
                teacher_img = gather_no_grad(self.teacher.encode_image(images).float(), info)
                teacher_txt = gather_no_grad(self.teacher.encode_text(ids).float(), info)
        objective = self._objective(teacher_img, teacher_txt)
        weights = {"mlm": opts.mlm_weight, "image_ssl": opts.image_ssl_weight}
        logs: dict = {}
        extra = {}
        if opts.grad_cache_chunk and opts.grad_cache_chunk < images.shape[0]:
            res = grad_cache_backward(model, images, ids, opts.grad_cache_chunk,
                                      lambda i, t: scale_loss(objective(i, t)), self.autocast, keep_embeddings)
            # Log the unscaled value (the fp16 grad scaler multiplies the objective).
            contrastive = res.loss / float(scale_loss(torch.ones((), device=self.device)))
            extra["grad_cache"] = res
            # Auxiliary losses chunk by chunk too, so memory stays at one chunk.
            n, c = images.shape[0], opts.grad_cache_chunk
            for s in range(0, n, c):
                aux = self._aux_losses(images[s : s + c], ids[s : s + c])
                if aux:
                    frac = (min(s + c, n) - s) / n
                    total = sum(weights[k] * v for k, v in aux.items()) * frac / info.world_size
                    scale_loss(total).backward()
                    for k, v in aux.items():
                        logs[k] = logs.get(k, 0.0) + float(v.detach()) * frac
        else:
            with self.autocast():
                img, txt = model.encode_image(images), model.encode_text(ids)
            loss = objective(img, txt)
            contrastive = loss.detach()
            aux = self._aux_losses(images, ids)
            for k, v in aux.items():
                loss = loss + weights[k] * v / info.world_size
                logs[k] = float(v.detach())
            scale_loss(loss).backward()
            if keep_embeddings:
                extra["embeddings"] = (img.detach(), txt.detach())
        if self.queue is not None:
            self.queue.push(teacher_img, teacher_txt)
        sum_gradients_(self.parameters(), info)
        logs["contrastive"] = float(contrastive)
        logs["loss"] = logs["contrastive"] + sum(weights[k] * logs[k] for k in ("mlm", "image_ssl") if k in logs)
        logs["_extra"] = extra
        return logs

    def after_optimizer_step(self) -> None:
        """Clamp the temperature as CLIP does; move the teacher towards the student."""
        self.model.clamp_logit_scale_()
        if self.teacher is not None:
            ema_update_(self.teacher, self.model, self.opts.distill_momentum)

    def state_dict(self) -> dict:
        state = {"generator": self.generator.get_state()}
        if self.teacher is not None:
            state["teacher"] = self.teacher.state_dict()
            state["queue"] = self.queue.state_dict()
        if self.mlm_head is not None:
            state["mlm_head"] = self.mlm_head.state_dict()
        if self.ssl_head is not None:
            state["ssl_head"] = self.ssl_head.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        if self.teacher is not None and "teacher" in state:
            self.teacher.load_state_dict(state["teacher"])
            self.queue.load_state_dict(state["queue"])
        if self.mlm_head is not None and "mlm_head" in state:
            self.mlm_head.load_state_dict(state["mlm_head"])
        if self.ssl_head is not None and "ssl_head" in state:
            self.ssl_head.load_state_dict(state["ssl_head"])
