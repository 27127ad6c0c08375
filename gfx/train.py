"""The one training loop for every gfx model.

AdamW, linear warmup then cosine decay, gradient clipping, optional bf16 autocast on CUDA, periodic
validation, checkpoints that resume bit-exactly (model, optimizer, scheduler, step, data position,
RNG states), progress through `logging` and an optional callback (the CLI draws progress bars).

    result = train(model, train_data, TrainConfig(steps=2000, lr=3e-4), val_data=val, out_dir="runs/icon")

`model` returns a scalar loss from a batch, through `loss_fn(model, batch)` (default
`model.loss(batch)`); a model with `after_step(step, steps)` has it called after each optimizer step (e.g. to
project its parameters back onto a constraint). `train_data` is re-iterable (a list, a DataLoader) or a function
`epoch -> iterable`; each epoch starts from `seed + epoch` so a shuffling DataLoader gives the same
order again on resume, and resuming skips the batches already used in that epoch.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gfx.checkpoint import load_weights, save_pretrained
from gfx.config import ConfigMixin
from gfx.paths import cache_dir
from gfx.runtime import seed_everything

log = logging.getLogger(__name__)

TRAINER_STATE = "trainer.pt"
RUNS_DIR = Path(os.environ["GFX_RUNS"]) if os.environ.get("GFX_RUNS") else cache_dir("train")
"""Where recipes keep resumable training state (`RUNS_DIR/<model name>/checkpoint/`): $GFX_RUNS, else the
"train" cache (`gfx.paths.cache_dir`: .cache/train in a checkout); never shipped."""


@dataclass
class TrainConfig(ConfigMixin):
    """Optimisation and bookkeeping settings of one training run."""

    steps: int = 1000
    lr: float = 3e-4
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0  # max global grad norm; 0: off
    accumulate: int = 1  # micro-batches per optimizer step
    amp: bool = True  # bf16 autocast when training on CUDA; ignored on CPU
    eval_every: int = 200  # steps between validations; 0: only at the end
    eval_batches: int = 20  # validation batches per evaluation; 0: all
    checkpoint_every: int = 500  # steps between checkpoints (needs out_dir); 0: only at the end
    log_every: int = 50
    seed: int = 0


@dataclass
class Progress:
    """What the callback receives after every optimizer step (and after each validation)."""

    step: int
    steps: int
    loss: float
    lr: float
    grad_norm: float
    elapsed_s: float
    val_loss: float | None = None


@dataclass
class TrainResult:
    """Final state of a run."""

    step: int
    train_loss: float
    val_loss: float | None
    elapsed_s: float
    history: list[dict[str, float]] = field(default_factory=list)


def lr_lambda(config: TrainConfig) -> Callable[[int], float]:
    """Learning-rate multiplier for a step: linear warmup to 1, then cosine to min_lr_ratio."""

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = min((step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1), 1.0)
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms, biases or 1-d parameters)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)


def train(
    model: nn.Module,
    train_data: Iterable | Callable[[int], Iterable],
    config: TrainConfig,
    *,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor] | None = None,
    val_data: Iterable | None = None,
    out_dir: str | Path | None = None,
    resume: bool = True,
    callback: Callable[[Progress], None] | None = None,
    device: str | torch.device | None = None,
) -> TrainResult:
    """Train `model` for `config.steps` optimizer steps.

    Args:
        model: the module to train (moved to `device`).
        train_data: re-iterable batches, or `epoch -> iterable of batches`.
        config: optimisation settings.
        loss_fn: `(model, batch) -> scalar loss`; default `model.loss(batch)`.
        val_data: re-iterable validation batches.
        out_dir: where checkpoints go (`out_dir/checkpoint/`: config.json, model.safetensors,
            trainer.pt); the final model is saved into `out_dir` itself. None: no files.
        resume: continue from `out_dir/checkpoint` when it exists.
        callback: receives a `Progress` after every step; raising from it stops training.
        device: defaults to the model's current device.

    Returns:
        A `TrainResult`.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    loss_fn = loss_fn or (lambda m, batch: m.loss(batch))
    seed_everything(config.seed)
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
    state = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "elapsed_s": 0.0, "history": []}
    checkpoint_dir = Path(out_dir) / "checkpoint" if out_dir is not None else None
    rng_state = None
    if resume and checkpoint_dir is not None and (checkpoint_dir / TRAINER_STATE).is_file():
        rng_state = _load_checkpoint(checkpoint_dir, model, optimizer, scheduler, state)
        log.info("resumed from %s at step %d", checkpoint_dir, state["step"])
    use_amp = config.amp and device.type == "cuda"
    batches = _batches(train_data, state, config.seed, rng_state)
    start = time.perf_counter() - state["elapsed_s"]
    loss_value, val_loss = float("nan"), None
    model.train()
    while state["step"] < config.steps:
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(config.accumulate):
            batch = _to_device(next(batches), device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss = loss_fn(model, batch) / config.accumulate
            loss.backward()
            total += loss.item()
        grad_norm = float("nan")
        if config.grad_clip:
            grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip))
        optimizer.step()
        scheduler.step()
        state["step"] += 1
        if hasattr(model, "after_step"):
            model.after_step(state["step"], config.steps)
        loss_value = total
        step = state["step"]
        state["elapsed_s"] = time.perf_counter() - start
        last = step == config.steps
        if val_data is not None and ((config.eval_every and step % config.eval_every == 0) or last):
            val_loss = evaluate(model, val_data, loss_fn, device, config.eval_batches, use_amp)
        record = {"step": step, "loss": loss_value, "lr": scheduler.get_last_lr()[0]}
        if val_loss is not None and (last or (config.eval_every and step % config.eval_every == 0)):
            record["val_loss"] = val_loss
        state["history"].append(record)
        if step % max(config.log_every, 1) == 0 or last:
            log.info(
                "step %d/%d loss %.4f lr %.2e%s",
                step,
                config.steps,
                loss_value,
                record["lr"],
                f" val {val_loss:.4f}" if "val_loss" in record else "",
            )
        if checkpoint_dir is not None and (
            (config.checkpoint_every and step % config.checkpoint_every == 0) or last
        ):
            _save_checkpoint(checkpoint_dir, model, optimizer, scheduler, state)
        if callback is not None:
            callback(
                Progress(
                    step,
                    config.steps,
                    loss_value,
                    record["lr"],
                    grad_norm,
                    state["elapsed_s"],
                    record.get("val_loss"),
                )
            )
    if out_dir is not None and hasattr(model, "config"):
        save_pretrained(model, out_dir)
    model.eval()
    return TrainResult(state["step"], loss_value, val_loss, state["elapsed_s"], state["history"])


@torch.no_grad()
def evaluate(
    model: nn.Module, data: Iterable, loss_fn, device, max_batches: int = 0, amp: bool = False
) -> float:
    """Mean loss over (the first `max_batches` of) `data`, in eval mode; restores the previous mode."""
    was_training = model.training
    model.eval()
    losses = []
    for i, batch in enumerate(data):
        if max_batches and i >= max_batches:
            break
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=amp):
            losses.append(float(loss_fn(model, _to_device(batch, device))))
    model.train(was_training)
    if not losses:
        raise ValueError("validation data yielded no batches")
    return sum(losses) / len(losses)


class Prefetch:
    """Per-epoch batches built `depth` ahead in a background thread, so the accelerator does not wait for
    Python-side collation (augmentation, text encoding). Wraps `epoch -> iterable` data (with or without
    `start=`) and is itself such data, so `train` still counts consumed batches and resumes exactly.

        train(model, Prefetch(IconBatches(...), depth=4), config, device="cuda")
    """

    def __init__(self, data: Callable[..., Iterable], depth: int = 4):
        self.data, self.depth = data, depth

    def __call__(self, epoch: int, start: int = 0) -> Iterator:
        import queue
        import threading

        done = object()
        buffer: queue.Queue = queue.Queue(maxsize=self.depth)
        stop = threading.Event()

        def produce() -> None:
            try:
                for batch in _epoch_iterator(self.data, epoch, start):
                    if stop.is_set():
                        return
                    buffer.put(batch)
                buffer.put(done)
            except BaseException as error:  # re-raised in the consuming thread
                buffer.put(error)

        worker = threading.Thread(target=produce, name=f"prefetch-epoch-{epoch}", daemon=True)
        worker.start()
        try:
            while (item := buffer.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while worker.is_alive():  # unblock a producer waiting on a full buffer
                try:
                    buffer.get_nowait()
                except queue.Empty:
                    worker.join(timeout=0.01)


def _batches(data, state: dict, seed: int, rng_state: dict | None):
    """Endless batches across epochs; skips the batches a resumed run already consumed."""
    while True:
        torch.manual_seed(seed + state["epoch"])  # a shuffling DataLoader draws its order from this
        iterator = _epoch_iterator(data, state["epoch"], state["batch_in_epoch"])
        if rng_state is not None:  # restore dropout/sampling RNG exactly where the checkpoint left it
            _set_rng_state(rng_state)
            rng_state = None
        elif state["batch_in_epoch"] == 0:
            seed_everything(seed + 1000 + state["epoch"])
        produced = False
        for batch in iterator:
            produced = True
            state["batch_in_epoch"] += 1
            yield batch
        if not produced and state["batch_in_epoch"] == 0:
            raise ValueError("training data yielded no batches")
        state["epoch"] += 1
        state["batch_in_epoch"] = 0


def _epoch_iterator(data, epoch: int, start: int):
    """Batches of `epoch` from batch `start` on. Per-epoch callables that take `start=` skip cheaply
    (without building the skipped batches); otherwise the skipped batches are drawn and dropped."""
    if callable(data) and "start" in inspect.signature(data).parameters:
        return iter(data(epoch, start=start))
    iterator = iter(data(epoch) if callable(data) and not hasattr(data, "__iter__") else data)
    for _ in range(start):
        next(iterator)
    return iterator


def _to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": _numpy_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _numpy_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": pos,
        "has_gauss": has_gauss,
        "cached": cached,
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_tuples(state["python"]))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached"],
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(value):
    """torch.load gives lists where random.getstate() had tuples."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def _save_checkpoint(directory: Path, model, optimizer, scheduler, state: dict) -> None:
    """Write weights + trainer state into `directory`, atomically (a temporary directory, then a rename)."""
    tmp = directory.with_name(directory.name + ".tmp")
    save_pretrained(model, tmp, config=getattr(model, "config", None))
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "state": state,
            "rng": _rng_state(),
        },
        tmp / TRAINER_STATE,
    )
    if directory.exists():
        old = directory.with_name(directory.name + ".old")
        directory.rename(old)
        tmp.rename(directory)
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    else:
        tmp.rename(directory)


def _load_checkpoint(directory: Path, model, optimizer, scheduler, state: dict) -> dict:
    load_weights(model, directory)
    saved = torch.load(directory / TRAINER_STATE, map_location="cpu", weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    state.update(saved["state"])
    return saved["rng"]
