"""Graph sparsifiers on one interface: exact levels, each method's criterion, bad input."""
import json

import pytest
import torch

from graphlottery.lottery import UGS
from graphlottery.nn import GCN, pyg_model
from graphlottery.sparsifiers import (
    class_separation,
    level_targets,
    make_sparsifier,
    sinkhorn_distance,
    sparsify,
    teddy_scores,
)
from graphlottery.sparsifiers.dspar import sample_until
from graphlottery.sparsifiers.teddy import distillation

METHODS = [("ugs", {}, "imp"), ("random", {}, "one_shot"), ("teddy", {}, "one_shot"), ("wdglt", {}, "imp"),
           ("dspar", {}, "one_shot"), ("dspar", {"reweight": False}, "one_shot"), ("agreement", {}, "one_shot"),
           ("agreement", {"within": "degree", "distill": 0.1}, "one_shot")]


def _run(cora, model=None, prune=(0.2, 0.2), epochs=10):
    torch.manual_seed(0)
    model = model if model is not None else GCN(cora.num_features, 16, 2, 7)
    return UGS(model, cora, mask_epochs=epochs, retrain_epochs=epochs, prune_graph=prune[0], prune_weight=prune[1])


@pytest.mark.parametrize("name,options,schedule", METHODS)
def test_every_method_reaches_each_level_exactly(cora, name, options, schedule):
    run = _run(cora)
    run.dense()
    method = make_sparsifier(name, options)
    method.setup(run, run.best_output)
    weights = 0.0 if name == "dspar" else 0.2
    targets = level_targets(2, 0.2, weights)
    units, total = run.graph.num_units, sum(m.numel() for _, m in run.masks.items())
    for (graph, weight), record in zip(targets, sparsify(run, method, schedule, targets)):
        assert abs(record["graph_sparsity"] - graph) <= 1.0 / units
        assert abs(record["weight_sparsity"] - weight) <= 1.0 / total
        assert 0.4 < record["test"] <= 1.0  # it trained (chance is 1/7)


def test_teddy_score_matches_its_definition_and_prunes_hub_edges_first():
    # a hub (0) joined to 1..4, an edge 0-5, and a path 5-6-7 of low-degree nodes
    pairs = [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (5, 6), (6, 7)]
    src = torch.tensor([a for a, b in pairs] + [b for a, b in pairs])
    dst = torch.tensor([b for a, b in pairs] + [a for a, b in pairs])
    score = teddy_scores(src, dst, 8)
    deg = torch.bincount(dst, minlength=8).float()
    for e in range(src.numel()):
        u, v = int(src[e]), int(dst[e])
        mean = [sum(deg[int(w)] ** -0.5 for w in src[dst == x]) / deg[x] for x in (u, v)]
        assert score[e] == pytest.approx(float(mean[0] / deg[u] * mean[1] / deg[v]), rel=1e-5)
    assert score.argmin() in (4, 11)  # hub to the degree-2 node 5: the lowest, pruned first
    assert score[6] == score.max()  # the end of the path: kept longest


def test_dspar_draws_exactly_the_distinct_edges_asked_for_and_reweights_without_bias():
    probs = torch.tensor([0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    generator = torch.Generator().manual_seed(0)
    counts, q = sample_until(probs, 4, None, generator)
    assert int((counts > 0).sum()) == 4 and int(counts.sum()) == q
    weights = torch.stack([sample_until(probs, None, 50, generator)[0] / (50 * probs) for _ in range(2000)])
    assert torch.allclose(weights.mean(0), torch.ones(6), atol=0.1)  # E[count / (q p)] = 1 per edge


def test_dspar_reference_keeps_fewer_edges_than_its_draws(cora):
    run = _run(cora, prune=(0.3, 0.0))
    method = make_sparsifier("dspar", {"reference": True})
    method.setup(run)
    record = next(sparsify(run, method, "one_shot", [(0.3, 0.0)]))
    assert record["graph_sparsity"] > 0.35  # q = 0.7 |E| draws with replacement repeat edges


def test_sinkhorn_is_batched_and_separates_clouds():
    torch.manual_seed(0)
    x, y = torch.rand(2, 30, 3), torch.rand(2, 40, 3)
    batched = sinkhorn_distance(x, y)
    assert torch.allclose(batched, torch.stack([sinkhorn_distance(x[i], y[i]) for i in range(2)]))
    near, far = sinkhorn_distance(x[0], x[0] + 0.01), sinkhorn_distance(x[0], x[0] + 1.0)
    assert far > 50 * near and far == pytest.approx(3.0, rel=0.1)  # every point moves by (1, 1, 1)


def test_wasserstein_term_gives_edges_far_from_labels_a_gradient(cora):
    """UGS's loss reaches only edges within two hops of a training node; WD-GLT's reaches all."""
    def edges_with_gradient(extra):
        run = _run(cora)
        edge_score, _, _ = run.start_search()
        view = run._view()
        with run.extend(loss=extra):
            next(run._losses(view)).backward()
        return int((edge_score.grad != 0).sum()), edge_score.numel()

    plain, units = edges_with_gradient(None)
    separated, _ = edges_with_gradient(lambda out: -0.1 * class_separation(out, points=0))
    assert plain < 0.85 * units and separated > 0.95 * units


def test_class_separation_pushes_predicted_classes_apart():
    out = torch.randn(200, 4, requires_grad=True)
    before = float(class_separation(out.detach(), points=0))
    (-class_separation(out, points=0)).backward()
    with torch.no_grad():
        after = float(class_separation(out - 1.0 * out.grad, points=0))
    assert after > before
    assert float(class_separation(torch.zeros(50, 3))) == 0.0  # one predicted class: nothing to separate


def test_teddy_distils_and_projects_weights_on_any_pyg_model(cora):
    torch.manual_seed(0)
    model = pyg_model("pyg.GCN", cora.num_features, 16, 2, 7)
    run = _run(cora, model=model, epochs=30)
    run.dense()
    method = make_sparsifier("teddy", {"distill": 1.0})
    method.setup(run, run.best_output)
    assert float(distillation(run.best_output, 1.0)(run.best_output)) == pytest.approx(0.0, abs=1e-6)  # KL(p || p)
    record = next(sparsify(run, method, "one_shot", [(0.5, 0.9)]))
    assert record["weight_sparsity"] == pytest.approx(0.9, abs=1e-4)  # the best epoch's support, exact
    assert record["test"] > 0.5


@pytest.mark.parametrize("name,options,schedule,targets,message", [
    ("teddy", {}, "imp", [(0.1, 0.0)], "runs on the schedule"),
    ("dspar", {}, "one_shot", [(0.1, 0.2)], "prunes only the graph"),
    ("random", {}, "one_shot", [(1.0, 0.0)], r"must be in \[0, 1\)"),
    ("teddy", {"distill": 0.1}, "one_shot", [(0.1, 0.0)], "reads the dense model.s output"),
    ("ugs", {}, "gradual", [(0.1, 0.0)], "unknown schedule"),
])
def test_bad_requests_fail_before_training(cora, name, options, schedule, targets, message):
    run = _run(cora)
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    method = make_sparsifier(name, options)
    if name != "teddy":
        method.setup(run)
    else:
        method.dense_output = None
    with pytest.raises(ValueError, match=message):
        next(sparsify(run, method, schedule, targets))
    assert all(torch.equal(before[k], v) for k, v in run.model.state_dict().items())


def test_unknown_methods_and_options_are_named():
    with pytest.raises(ValueError, match="unknown method 'tedy'; methods"):
        make_sparsifier("tedy")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['lamda'\] of method 'teddy'"):
        make_sparsifier("teddy", {"lamda": 0.1})
    with pytest.raises(ValueError, match="must be an integer"):
        make_sparsifier("wdglt", {"points": 1.5})
    with pytest.raises(ValueError, match="must be a number"):
        make_sparsifier("wdglt", {"wd_weight": "much"})
    with pytest.raises(ValueError, match=r"level_targets|prune_graph must be in \[0, 1\)"):
        level_targets(3, 1.0, 0.2)


def test_bench_writes_its_table_and_resumes(tmp_path, monkeypatch):
    from graphlottery.bench import BenchConfig, quick_line, run_bench

    config = tmp_path / "small.yaml"
    config.write_text("dataset: Cora\nmodel: gcn\nhidden: 16\nprune_graph: 0.2\nprune_weight: 0.2\n")
    bench = BenchConfig(configs=[str(config)], methods=["random", "teddy", "dspar"], sweeps=["graph", "weight"],
                        seeds=[0, 1], levels=2, epochs=3)
    summary = run_bench(bench, tmp_path / "out", progress=False)
    cell = summary["cells"][0]
    assert set(cell["methods"]) == {"random", "teddy", "dspar"}
    assert set(cell["methods"]["dspar"]) == {"graph"}  # DSpar prunes no weights
    curve = cell["methods"]["teddy"]["weight"]["curve"]
    assert [round(p["weight_sparsity"], 3) for p in curve] == [0.2, 0.36]
    assert all(len(p["per_seed"]) == 2 for p in curve)
    for name in ("bench.json", "table.md", "gcn_cora.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert "| gcn_cora |" in (tmp_path / "out" / "table.md").read_text()
    line = quick_line(summary)
    assert line["methods"] == ["random", "teddy", "dspar"] and "graph_extreme" in line["teddy"]
    records = tmp_path / "out" / "gcn_cora" / "teddy" / "graph" / "seed_1.json"
    stamp = records.stat().st_mtime_ns
    again = run_bench(bench, tmp_path / "out", progress=False)  # everything finished: nothing retrains
    assert records.stat().st_mtime_ns == stamp
    assert json.loads(json.dumps(again)) == json.loads(json.dumps(summary))


def test_glt_runs_a_method_from_a_grouped_config_and_resumes(tmp_path):
    from graphlottery import GLTConfig, run_glt

    path = tmp_path / "teddy.yaml"
    path.write_text("data: {dataset: Cora}\nmodel: {name: gcn, hidden: 16}\nmethod: {name: teddy, distill: 0.5}\n"
                    "schedule: {name: one_shot, rounds: 2, prune_graph: 0.2, prune_weight: 0.5}\n"
                    "training: {mask_epochs: 3, retrain_epochs: 3}\n")
    config = GLTConfig.from_yaml(path)
    results = run_glt(config, tmp_path / "run", progress=False)
    assert results["method"] == "teddy (one_shot)"
    assert [round(r["weight_sparsity"], 2) for r in results["rounds"]] == [0.0, 0.5, 0.75]
    history = tmp_path / "run" / "seed_0" / "history.json"
    full = json.loads(history.read_text())
    history.write_text(json.dumps(full[:2]))  # as if killed after round 1
    again = run_glt(config, tmp_path / "run", progress=False)
    assert again["rounds"][2]["test"] == results["rounds"][2]["test"]
    unread = GLTConfig.from_yaml(path, s1=0.5, mask_epochs=7)  # TEDDY runs no mask search: these do nothing
    assert run_glt(unread, tmp_path / "run", progress=False)["rounds"][2]["test"] == results["rounds"][2]["test"]
    with pytest.raises(ValueError, match="different"):
        run_glt(GLTConfig.from_yaml(path, lr=0.02), tmp_path / "run", progress=False)


def test_tutorial_own_method_block_runs():
    """The "your own method" example of docs/tutorials/bench.md, as written."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "bench.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "bench.md", "exec"), namespace)  # noqa: S102 - our own docs
    assert namespace["record"]["graph_sparsity"] == pytest.approx(1 - 0.8**3, abs=1e-3)
    assert namespace["record"]["test"] > 0.5


@pytest.mark.parametrize("keys,message", [
    ({"method": "teddy", "schedule": "one_shot", "batch_size": 64}, "runs full-batch"),
    ({"method": "dspar", "schedule": "one_shot", "prune_weight": 0, "graph_mask": "inductive"}, "UGS's"),
    ({"method": "agreement", "schedule": "one_shot", "prune_weight": 0, "task": "link"}, "not 'link'"),
    ({"method": "fastglt", "schedule": "one_shot", "method_options": {"regrow": 1.0}}, "'regrow'"),
    ({"method": "aceglt", "schedule": "imp", "method_options": {"recover": 0.0}}, "'recover'"),
    ({"method": "adaglt", "schedule": "one_shot", "method_options": {"init_threshold": 1.0}}, "'init_threshold'"),
    ({"method": "fastglt", "schedule": "one_shot", "dataset": "MUTAG", "task": "graph"}, "not 'graph'"),
])
def test_configs_a_method_cannot_run_are_refused(keys, message):
    from graphlottery import ConfigError, GLTConfig

    with pytest.raises(ConfigError, match=message):
        GLTConfig.from_dict({"dataset": "Cora", **keys})


def test_bench_resumes_an_iterative_method_from_its_ticket_and_refuses_other_settings(tmp_path):
    from graphlottery import ConfigError
    from graphlottery.bench import BenchConfig, run_bench

    config = tmp_path / "small.yaml"
    config.write_text("dataset: Cora\nmodel: gcn\nhidden: 16\nprune_graph: 0.2\nprune_weight: 0.2\n")

    def bench(levels, out, **kw):
        return BenchConfig(configs=[str(config)], methods=["ugs"], sweeps=["joint"], seeds=[0], levels=levels,
                           epochs=kw.get("epochs", 4))

    run_bench(bench(1, "a"), tmp_path / "a", progress=False)
    resumed = run_bench(bench(2, "a"), tmp_path / "a", progress=False)  # level 2 from level 1's ticket
    fresh = run_bench(bench(2, "b"), tmp_path / "b", progress=False)
    tests = [[p["test"] for p in r["cells"][0]["methods"]["ugs"]["joint"]["curve"]] for r in (resumed, fresh)]
    assert tests[0] == tests[1] and len(tests[0]) == 2
    assert sorted(p.name for p in (tmp_path / "a" / "gcn_cora" / "ugs" / "joint").glob("*.pt")) == ["seed_0_2.pt"]
    with pytest.raises(ConfigError, match="different"):
        run_bench(bench(2, "a", epochs=5), tmp_path / "a", progress=False)
    job = tmp_path / "a" / "gcn_cora" / "ugs" / "joint" / "job.json"
    recorded = json.loads(job.read_text())
    assert recorded["options"] == {}  # UGS's keys are the trainer's
    recorded["options"] = {"distill": 0.0}  # as if the method's defaults had changed since
    job.write_text(json.dumps(recorded))
    with pytest.raises(ConfigError, match=r"different \['options'\]"):
        run_bench(bench(2, "a"), tmp_path / "a", progress=False)


def test_agreement_prunes_confident_disagreement_first_and_agreement_last():
    from graphlottery.sparsifiers import agreement_scores

    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.95, 0.05]])
    src, dst = torch.tensor([0, 0, 2, 0]), torch.tensor([1, 2, 1, 3])  # 0-1, 2-1 disagree; 0-2, 0-3 agree
    score = agreement_scores(probs, src, dst, torch.Generator().manual_seed(0))
    assert score[0] == pytest.approx(1 - 0.9 * 0.8) and score[2] == pytest.approx(1 - 0.6 * 0.8)
    assert score[0] < score[2] < 1 <= score[1].item() < 2 and 1 <= score[3].item() < 2


def test_reference_modes_follow_the_original_code(cora):
    # WD-GLT as TEDDY's re-implementation runs it: no L1 on the graph mask, scores clamped to [0, 1]
    run = _run(cora, prune=(0.2, 0.0), epochs=5)
    method = make_sparsifier("wdglt", {"reference": True})
    s1_in_search, selected = [], []
    run.after_step.append(lambda: run.graph.score is not None and s1_in_search.append(run.s1))
    select = method.select
    method.select = lambda *args: selected.append(select(*args)) or selected[-1]
    next(sparsify(run, method, "imp", [(0.2, 0.0)]))
    assert len(s1_in_search) == 5 and set(s1_in_search) == {0.0}
    scores = selected[0].edge_scores
    assert 0 <= float(scores.min()) and float(scores.max()) <= 1 and float(scores.max()) == 1.0  # clamped
    assert run.s1 == pytest.approx(1e-2)  # restored after the search
    # TEDDY's original l0 ball holds every parameter, biases included
    run = _run(cora, prune=(0.0, 0.5), epochs=5)
    method = make_sparsifier("teddy", {"reference": True, "distill": 0.0})
    method.setup(run)
    next(sparsify(run, method, "one_shot", [(0.0, 0.5)]))
    biases = [p for name, p in run.model.named_parameters() if name.endswith("bias")]
    assert biases and any(bool((b == 0).any()) for b in biases)


def test_published_verdicts_say_what_the_sweep_can_decide():
    from graphlottery.bench import PUBLISHED, _verdict

    assert PUBLISHED[("fastglt", "gcn", "citeseer")] == {"source": "FastGLT README", "weight": 95.0}  # no graph figure
    assert PUBLISHED[("ugs", "gcn", "cora")]["graph"] is None  # published: no winning ticket
    assert _verdict({"weight": 0.832}, 93.0, "weight", 83.2).startswith("undecided")  # the last level measured
    assert _verdict({"weight": 0.832}, 86.0, "weight", 83.2).startswith("undecided")  # ours may lie far beyond
    assert _verdict({"weight": 0.672}, 93.0, "weight", 83.2).startswith("not reproduced")
    assert _verdict({"weight": 0.9}, 93.0, "weight", 93.1).startswith("reproduced")
    assert _verdict(None, None, "graph", 33.6) == "reproduced (no ticket in either)"
