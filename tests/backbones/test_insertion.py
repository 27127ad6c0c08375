"""Insertion LM: the training target puts each dropped token after its nearest kept left neighbour; sampling
inserts only into the allowed slots and keeps the context; a tiny model learns to insert what is missing."""

import torch

from gfx.backbones.insertion import insert, insertion_logits, insertion_loss, joint_log_probs
from gfx.train import TrainConfig, train

from .conftest import make_model

STOP = 11


def test_the_loss_targets_the_dropped_multiset_per_slot_and_stop_when_nothing_is_missing():
    model = make_model(vocab_size=12, seed=2)
    tokens = torch.tensor([[1, 5, 6, 2, 7, 3], [1, 4, 2, 0, 0, 0]])
    valid = torch.tensor([[True] * 6, [True, True, True, False, False, False]])
    dropped = torch.tensor([[False, True, True, False, True, False], [False] * 6])
    with torch.no_grad():
        loss = insertion_loss(model, tokens, dropped, STOP, valid)
        logp = joint_log_probs(insertion_logits(model, torch.tensor([[1, 2, 3]])), torch.ones(1, 3, dtype=torch.bool),
                               STOP)[0].view(3, 12)
        full = joint_log_probs(insertion_logits(model, torch.tensor([[1, 4, 2]])), torch.ones(1, 3, dtype=torch.bool),
                               STOP)[0].view(3, 12)
    first = -(logp[0, 5] + logp[0, 6] + logp[1, 7]) / 3  # 5 and 6 go after 1, 7 after 2
    second = -full[0, STOP]  # nothing dropped: stop
    torch.testing.assert_close(loss, (first + second) / 2)


def test_insert_fills_only_the_allowed_gap_and_keeps_the_context():
    model = make_model(vocab_size=12, seed=4)
    context = torch.tensor([1, 2, 3, 4, 5])
    for seed in range(5):
        out, passes = insert(model, context, (2, 2), STOP, torch.Generator().manual_seed(seed), max_new_tokens=6)
        n = len(out) - len(context)
        assert torch.equal(out[:3], context[:3]) and torch.equal(out[3 + n :], context[3:])
        assert STOP not in out[3 : 3 + n].tolist()
        assert passes == (n + 1 if n < 6 else 6)


def test_a_tiny_model_learns_to_insert_what_is_missing_and_to_stop():
    torch.manual_seed(0)
    model = make_model(vocab_size=12, seed=0, init_std=0.02)
    full = torch.arange(1, 9)[None].expand(16, -1)  # every row is 1 2 ... 8

    def batches():
        g = torch.Generator().manual_seed(0)
        while True:
            dropped = torch.rand(16, 8, generator=g) < torch.rand(16, 1, generator=g)
            dropped[:, [0, -1]] = False
            yield {"tokens": full, "dropped": dropped}

    def loss(m, batch):
        return insertion_loss(m, batch["tokens"], batch["dropped"], STOP)

    train(model.train(), batches(), TrainConfig(steps=300, lr=1e-2, warmup_steps=20, eval_every=0, log_every=10**9),
          loss_fn=loss)
    model.eval()
    g = torch.Generator().manual_seed(1)
    filled = [insert(model, torch.tensor([1, 4, 8]), (0, 1), STOP, g, max_new_tokens=10)[0].tolist() for _ in range(20)]
    assert sum(f == list(range(1, 9)) for f in filled) >= 16
