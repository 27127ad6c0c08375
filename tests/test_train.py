"""The training loop: loss goes down, resume after an interruption is bit-exact, schedule shape."""

import logging

import pytest
import torch

from gfx.backbones.transformer import Transformer, TransformerConfig
from gfx.checkpoint import WEIGHTS_NAME
from gfx.train import Prefetch, TrainConfig, lr_lambda, train


class Stop(Exception):
    pass


def tiny_model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(TransformerConfig.from_name("tiny", vocab_size=32, dropout=0.1))


def batches(n=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [{"tokens": torch.randint(0, 32, (4, 12), generator=g)} for _ in range(n)]


CONFIG = TrainConfig(steps=8, lr=1e-2, warmup_steps=2, eval_every=4, checkpoint_every=3, log_every=1)


def test_resume_after_interruption_gives_the_same_final_weights(tmp_path):
    data, val = batches(), batches(2, seed=2)
    reference = tiny_model()
    ref = train(reference, data, CONFIG, val_data=val)
    interrupted = tiny_model()

    def stop_at_4(progress):
        if progress.step == 4:
            raise Stop

    with pytest.raises(Stop):
        train(interrupted, data, CONFIG, val_data=val, out_dir=tmp_path, callback=stop_at_4)
    resumed = tiny_model()  # a fresh process: new model, state comes from the step-3 checkpoint
    result = train(resumed, data, CONFIG, val_data=val, out_dir=tmp_path)
    assert result.step == 8
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert result.val_loss == ref.val_loss
    assert (tmp_path / WEIGHTS_NAME).is_file()  # the final model is saved into out_dir
    assert [h["step"] for h in result.history] == list(range(1, 9))


def per_epoch_batches(epoch: int, start: int = 0):
    """Per-epoch data in a different order every epoch, skipping `start` batches cheaply."""
    data = batches()
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(epoch)).tolist()
    return iter([data[i] for i in order][start:])


def test_prefetched_data_trains_and_resumes_exactly_like_the_plain_data(tmp_path):
    reference = tiny_model()
    train(reference, per_epoch_batches, CONFIG)
    interrupted = tiny_model()

    def stop_at_5(progress):
        if progress.step == 5:
            raise Stop

    with pytest.raises(Stop):
        train(interrupted, Prefetch(per_epoch_batches, depth=3), CONFIG, out_dir=tmp_path, callback=stop_at_5)
    resumed = tiny_model()  # resumes from the step-3 checkpoint: mid-epoch, with batches prefetched beyond it
    train(resumed, Prefetch(per_epoch_batches, depth=3), CONFIG, out_dir=tmp_path)
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_prefetch_reraises_the_producers_error():
    def broken(epoch: int, start: int = 0):
        yield batches(1)[0]
        raise RuntimeError("corrupt shard 7")

    with pytest.raises(RuntimeError, match="corrupt shard 7"):
        train(tiny_model(), Prefetch(broken), CONFIG)


def test_loss_decreases_with_a_shuffling_dataloader_and_logs(caplog):
    data = torch.utils.data.DataLoader(
        [{"tokens": t} for t in torch.randint(0, 8, (16, 10))], batch_size=4, shuffle=True
    )
    model = tiny_model()
    seen = []
    with caplog.at_level(logging.INFO, logger="gfx.train"):
        result = train(
            model,
            data,
            TrainConfig(steps=30, lr=1e-2, warmup_steps=3, log_every=10),
            val_data=data,
            callback=seen.append,
        )
    assert result.history[-1]["loss"] < result.history[0]["loss"] - 0.5
    assert [p.step for p in seen] == list(range(1, 31)) and seen[-1].val_loss == result.val_loss
    assert "step 30/30" in caplog.text
    assert not model.training


def test_custom_loss_fn_and_accumulation():
    model = torch.nn.Linear(3, 1)
    xs = [torch.randn(8, 3) for _ in range(4)]
    loss_fn = lambda m, x: (m(x) - x.sum(1, keepdim=True)).pow(2).mean()  # noqa: E731
    result = train(
        model,
        xs,
        TrainConfig(steps=60, lr=0.05, warmup_steps=1, accumulate=2, weight_decay=0.0),
        loss_fn=loss_fn,
    )
    assert result.train_loss < 0.05


def test_warmup_then_cosine_schedule():
    f = lr_lambda(TrainConfig(steps=110, warmup_steps=10, min_lr_ratio=0.1))
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0) and f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.55) and f(110) == pytest.approx(0.1)


def test_empty_data_is_refused():
    with pytest.raises(ValueError, match="no batches"):
        train(tiny_model(), [], TrainConfig(steps=1))
