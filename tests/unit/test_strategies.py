"""Each fine-tuning strategy trains exactly what it claims; the regularisers pull towards the source."""

import copy
from typing import get_args

import pytest
import torch

from tests.conftest import toy_bars

from graftline.config import FinetuneParams
from graftline.data.dataset import ArrayData
from graftline.data.images import normalize
from graftline.errors import ModelError
from graftline.models import weights
from graftline.models.heads import head_param_names
from graftline.train import regularizers, strategies
from graftline.train.loop import FitData, fit
from graftline.train.optim import make_optimizer, make_scheduler
from graftline.train.recipe import Hooks, Recipe
from graftline.train.strategies import ProgressiveUnfreeze, extract_features, layer_groups, run_strategy

MEAN, STD = [0.5], [0.25]


def _toy(n=48, seed=0):
    return toy_bars(n, seed)


def _data(n=48, seed=0, val=12):
    x, y = _toy(n, seed)
    return FitData(ArrayData(x, y), ArrayData(x[:val], y[:val]) if val else None, MEAN, STD)


def _source(arch="test_resnet"):
    torch.manual_seed(0)
    src = weights.create(arch, 5, 1)
    # a "pretrained" source: non-trivial BatchNorm statistics, as after real training
    fit(src, _data(seed=3, val=0), Recipe(steps=3, batch_size=16, lr=1e-3, eval_every=3, device="cpu"))
    return src


def _target(src, seed=0):
    m = copy.deepcopy(src)
    torch.manual_seed(seed)  # the new head's initialisation
    m.reset_classifier(3)
    return m


def _run(name, model, steps=6, penalty=None, hooks=None, lr=3e-3, **kw):
    r = Recipe(steps=steps, batch_size=16, lr=lr, eval_every=2, device="cpu")
    probe = Recipe(steps=steps, batch_size=16, lr=1e-2, eval_every=2, augment=False, device="cpu")
    return run_strategy(name, model, _data(), r, probe, hooks or Hooks(penalty=penalty), None, **kw)


def _body_state(model):
    head = {k for k in model.state_dict() if k.startswith("fc.")}
    return {k: v.clone() for k, v in model.state_dict().items() if k not in head}


def test_linear_probe_changes_only_the_head_and_keeps_batchnorm_statistics():
    model = _target(_source())
    before = _body_state(model)
    head_before = model.get_classifier().weight.clone()
    _run("linear_probe", model)
    after = _body_state(model)
    assert any("running_mean" in k for k in before)
    for k in before:  # weights AND BatchNorm running statistics, bit for bit
        assert torch.equal(before[k], after[k]), k
    assert not torch.equal(head_before, model.get_classifier().weight)


def test_linear_probe_features_are_the_head_input():
    model = _target(_source()).eval()
    x, _ = _toy(8)
    f = extract_features(model, x, MEAN, STD)
    from graftline.data.images import normalize

    with torch.no_grad():
        assert torch.allclose(model.get_classifier()(f), model(normalize(x, MEAN, STD)), atol=1e-5)


@pytest.mark.parametrize("name", ["full", "lp_ft"])
def test_full_strategies_train_every_body_weight(name):
    model = _target(_source())
    before = _body_state(model)
    _run(name, model)
    params = {n for n, _ in model.named_parameters()}
    unchanged = [k for k, v in before.items() if k in params and torch.equal(v, model.state_dict()[k])]
    assert not unchanged, unchanged


def test_lp_ft_fine_tunes_from_the_head_the_linear_probe_alone_produces():
    src = _source()
    alone = _target(src)
    fresh_head = alone.get_classifier().weight.detach().clone()
    _run("linear_probe", alone)
    probed = {k: v.clone() for k, v in alone.get_classifier().state_dict().items()}
    model = _target(src)
    starts = []  # the head at the first epoch start of the train phase (the probe phase fits the head module alone)

    def spy(m, epoch):
        if m is model and not starts:
            starts.append({k: v.detach().clone() for k, v in m.get_classifier().state_dict().items()})

    _, facts = _run("lp_ft", model, hooks=Hooks(on_epoch_start=spy))
    assert len(starts) == 1 and facts["probe"]["steps"] == 6
    assert not torch.equal(probed["weight"], fresh_head)
    for k, v in probed.items():  # bit for bit: same seed, same probe recipe, same cached features
        assert torch.equal(starts[0][k], v), k


def test_discriminative_training_moves_each_layer_group_by_its_decayed_rate():
    """One AdamW step moves a weight by ~lr (the update is lr * g / |g|): under layer decay, a group's step is
    decay^depth times the step the same weight takes under full fine-tuning, from the same start and batch."""
    src = _source("test_vit")
    decay = 0.5
    moved = {}
    for name in ("full", "discriminative"):
        model = _target(src)
        start = {n: p.detach().clone() for n, p in model.named_parameters()}
        r = Recipe(steps=1, batch_size=16, lr=1e-3, weight_decay=0.0, eval_every=1, augment=False, device="cpu")
        run_strategy(name, model, _data(val=0), r, r, Hooks(), None, layer_decay=decay)
        moved[name] = {n: (p.detach() - start[n]).abs() for n, p in model.named_parameters()}
    groups = layer_groups(_target(src))
    depth = len(groups)
    assert depth >= 3
    for k, names in enumerate(groups):  # stem first: the stem's rate is decay^depth, the top group's decay^1
        want = decay ** (depth - k)
        ratios = torch.cat([(moved["discriminative"][n] / moved["full"][n])[moved["full"][n] > 1e-5].flatten()
                            for n in names])
        assert ratios.median().item() == pytest.approx(want, rel=0.05), (k, names[:2])
    head = head_param_names(_target(src))
    for n in head:
        assert torch.allclose(moved["discriminative"][n], moved["full"][n], rtol=1e-4, atol=1e-9)


def test_discriminative_lrs_follow_the_layer_decay():
    model = _target(_source("test_vit"))  # a ViT: blocks are timm's fine-grained layer groups
    decay = 0.5
    opt = make_optimizer(model, Recipe(steps=10, batch_size=8, lr=1e-2, layer_decay=decay))
    scales = sorted({round(g.get("lr_scale", 1.0), 12) for g in opt.param_groups})
    depth = len(scales) - 1
    assert depth >= 3
    assert scales == sorted(round(decay ** k, 12) for k in range(depth + 1))  # 1, d, d², ... stem gets d^depth
    head = head_param_names(model)
    named = {id(p): n for n, p in model.named_parameters()}
    head_scales = {g.get("lr_scale", 1.0) for g in opt.param_groups for p in g["params"] if named[id(p)] in head}
    assert head_scales == {1.0}
    # timm's scheduler keeps the ratios: during warmup and cosine every group is scale × lr(t)
    sched = make_scheduler(opt, Recipe(steps=10, batch_size=8, lr=1e-2, warmup_steps=4, layer_decay=decay))
    for step in (0, 2, 6):
        sched.step_update(step)
        lr_t = max(g["lr"] for g in opt.param_groups)
        assert 0 < lr_t <= 1e-2
        assert sorted({round(g["lr"] / lr_t, 9) for g in opt.param_groups}) == [round(v, 9) for v in scales]


def test_progressive_unfreezes_one_group_per_epochs_from_the_head_down():
    model = _target(_source())
    groups = layer_groups(model)
    every = 2
    hook = ProgressiveUnfreeze(model, every)
    trained = {}
    for epoch in range(0, 2 * len(groups) + 3):
        hook(model, epoch)
        trained[epoch] = {n for n, p in model.named_parameters() if p.requires_grad}
    head = head_param_names(model)
    assert trained[0] == trained[1] == head  # the head alone first
    assert trained[2] == head | set(groups[-1])  # then the top group
    assert trained[4] == head | set(groups[-1]) | set(groups[-2])
    assert trained[2 * len(groups)] == {n for n, _ in model.named_parameters()}  # all, eventually
    # in training: with eval_every=2 steps per epoch and every=2, step 1-4 touch only the head
    model = _target(_source())
    before = _body_state(model)
    seen = []

    def spy(m, e):
        hook2(m, e)
        seen.append((e, {k for k, v in _body_state(m).items() if not torch.equal(v, before[k])}))

    hook2 = ProgressiveUnfreeze(model, every)
    fit(model, _data(), Recipe(steps=6, batch_size=16, lr=3e-3, eval_every=2, device="cpu"),
        Hooks(on_epoch_start=spy))
    assert [e for e, _ in seen] == [0, 1, 2]
    assert seen[1][1] == set() and seen[2][1] == set()  # after epochs 0-1 the body is untouched, BN stats too
    changed = {k for k, v in _body_state(model).items() if not torch.equal(v, before[k])}
    top = {n.rsplit(".", 1)[0] for n in groups[-1]}
    assert changed and all(k.rsplit(".", 1)[0] in top for k in changed)  # epoch 2 trained the top group only


def test_l2_sp_ends_closer_to_the_source_than_no_regulariser():
    src = _source()

    def dist(m):
        s = src.state_dict()
        return sum(((p - s[n]) ** 2).sum().item() for n, p in m.named_parameters() if not n.startswith("fc."))

    free, reg = _target(src), _target(src)
    _run("full", free, steps=10)
    pen = regularizers.l2_sp(reg, src.state_dict(), head_param_names(reg), alpha=1.0, beta=0.01)
    _run("full", reg, steps=10, penalty=pen)
    assert dist(reg) < dist(free)


def test_ewc_fisher_is_non_negative_and_its_penalty_is_zero_at_the_source():
    src = _source()
    x, y = _toy(seed=5)
    fisher = regularizers.fisher_diagonal(src, x, y, MEAN, STD, samples=12)
    values = torch.cat([f.flatten() for f in fisher.values()])
    assert (values >= 0).all() and values.sum() > 0
    model = _target(src)
    pen = regularizers.ewc(model, src.state_dict(), head_param_names(model), fisher, lam=1.0)
    assert pen(model).item() == 0.0
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if n.startswith("conv1")).add_(0.1)
    assert pen(model).item() > 0.0
    # and the L2-SP backbone term is zero at the source too (only the head's β term remains)
    fresh = _target(src)
    assert regularizers.l2_sp(fresh, src.state_dict(), head_param_names(fresh), 1.0, 0.0)(fresh).item() == 0.0


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    model = _target(_source())
    # lr 0: the model never changes, so validation accuracy never improves after the first epoch
    r = fit(model, _data(), Recipe(steps=40, batch_size=16, lr=0.0, eval_every=4, patience=2, device="cpu"))
    assert r.stopped_early and r.steps_done == 12 and [h["step"] for h in r.history] == [4, 8, 12]
    r = fit(model, _data(), Recipe(steps=12, batch_size=16, lr=0.0, eval_every=4, device="cpu"))
    assert not r.stopped_early and r.steps_done == 12  # patience 0 = off


def test_forgetting_uses_the_original_source_head():
    from graftline.eval.forgetting import measure, with_source_head

    src = _source()  # a source that solves its task (the bars), so that there is something to forget
    fit(src, _data(seed=3, val=0), Recipe(steps=40, batch_size=16, lr=3e-3, eval_every=40, device="cpu"))
    x, y = _toy(seed=7)
    data = {"path": "toy", "x_eval": x, "y_eval": y}
    with torch.no_grad():  # the source model's accuracy on its eval set, computed here by hand
        by_hand = (src.eval()(normalize(x, MEAN, STD)).argmax(1) == y).float().mean().item()
    assert by_hand > 0.5
    untouched = _target(src)  # a new 3-class head, body as the source's
    restored = with_source_head(untouched, src)
    assert all(torch.equal(a, b) for a, b in zip(restored.state_dict().values(), src.state_dict().values()))
    kept = measure(src, untouched, data, MEAN, STD)
    assert kept["source_acc_before"] == pytest.approx(by_hand, abs=1e-9) and kept["forgetting"] == 0.0
    changed = _target(src)
    _run("full", changed, steps=10, lr=0.3)  # a rate that overwrites the body: the source task must suffer
    m = measure(src, changed, data, MEAN, STD)
    assert m["source_acc_before"] == pytest.approx(by_hand, abs=1e-9) and m["forgetting"] > 0
    body = with_source_head(changed, src).state_dict()
    assert torch.equal(body["fc.weight"], src.state_dict()["fc.weight"])  # the source head, not the new one
    assert torch.equal(body["conv1.0.weight"], changed.state_dict()["conv1.0.weight"])  # the fine-tuned body
    assert not torch.equal(body["conv1.0.weight"], src.state_dict()["conv1.0.weight"])


def test_the_registries_are_what_params_yaml_accepts():
    """finetune.strategy / finetune.regularizer are Literals in config (layer 0): exactly the registered names."""
    assert set(get_args(FinetuneParams.model_fields["strategy"].annotation)) == set(strategies.REGISTRY)
    assert set(get_args(FinetuneParams.model_fields["regularizer"].annotation)) == set(regularizers.REGISTRY)
    assert {n for n, r in regularizers.REGISTRY.items() if r.replaces_weight_decay} == {"l2_sp"}


def test_regularizers_are_built_through_the_registry():
    src = _source()
    model = _target(src)
    anchor = regularizers.Anchor(src, head_param_names(model), None, MEAN, STD, candidate="zoo:toy")
    p = FinetuneParams(l2_sp_alpha=2.0, l2_sp_beta=0.0)
    assert regularizers.REGISTRY["none"].build(model, anchor, p) is None
    pen = regularizers.REGISTRY["l2_sp"].build(model, anchor, p)
    with torch.no_grad():
        model.conv1[0].weight.add_(0.1)  # alpha/2 * |dw|^2 with dw = 0.1 everywhere in one tensor
    assert pen(model).item() == pytest.approx(2.0 / 2 * 0.01 * model.conv1[0].weight.numel(), rel=1e-4)
    with pytest.raises(ModelError, match="zoo:toy records no source eval set"):
        regularizers.REGISTRY["ewc"].build(model, anchor, p)


@pytest.mark.parametrize("name", ["linear_probe", "lp_ft"])
def test_probe_strategies_train_without_validation_images(name):
    """data.val_fraction: 0 is allowed: the probe phase must train the head on no validation set, not crash."""
    model = _target(_source())
    x, y = _toy()
    empty = ArrayData(x[:0], y[:0])
    r = Recipe(steps=4, batch_size=16, lr=3e-3, eval_every=2, device="cpu")
    head_before = model.get_classifier().weight.clone()
    result, facts = run_strategy(name, model, FitData(ArrayData(x, y), empty, MEAN, STD), r, r, Hooks(), None)
    assert result.steps_done == 4 and result.final_val_acc is None and facts["probe"]["val_acc"] is None
    assert not torch.equal(head_before, model.get_classifier().weight)
