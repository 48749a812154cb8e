"""The training loss: only supervised positions go through the LM head, and the loss and gradients are transformers'."""

import torch
from model_fixtures import open_gates, random_batch, tiny_cfg

from m2t.model import build_model


def _transformers_loss(model, batch):
    embeds = model.input_embeds(
        input_ids=batch["input_ids"],
        wt_emb=batch["wt_emb"],
        wt_mask=batch["wt_mask"],
        mut_emb=batch["mut_emb"],
        mut_mask=batch["mut_mask"],
    )
    return model.llm(inputs_embeds=embeds, attention_mask=batch["attention_mask"], labels=batch["labels"]).loss


def test_loss_and_gradients_equal_transformers_without_projecting_the_prompt():
    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = build_model(cfg, stage="finetune", dim_in=64)
    open_gates(model)
    batch = random_batch(
        model, cfg, ["a short answer", "a much longer answer than the first one, padded"], [(9, 9)] * 2
    )
    head, rows = model.llm.get_output_embeddings(), []
    hook = head.register_forward_hook(lambda _m, args, _out: rows.append(args[0].shape[:-1].numel()))
    ours = model(**batch)
    hook.remove()
    supervised = int((batch["labels"][:, 1:] != -100).sum())
    assert ours.logits is None and rows == [supervised] < [batch["input_ids"].numel()]
    ours.loss.backward()
    mine = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()
    theirs = _transformers_loss(model, batch)
    theirs.backward()
    torch.testing.assert_close(ours.loss, theirs)
    for name, p in model.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(mine[name], p.grad, msg=name)


def test_without_labels_the_forward_gives_every_logit():
    cfg = tiny_cfg()
    model = build_model(cfg, stage="pretrain", dim_in=64)
    batch = random_batch(model, cfg, [None], [(5, 5)])
    batch.pop("labels")
    out = model(**batch)
    assert out.logits.shape == (*batch["input_ids"].shape, model.llm.config.vocab_size) and out.loss is None
