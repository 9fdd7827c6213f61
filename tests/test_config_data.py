import os

import pytest

from graphlottery import ConfigError, GLTConfig
from graphlottery.data import load_planetoid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_shipped_configs_load():
    for name in os.listdir(os.path.join(REPO, "configs", "glt")):
        config = GLTConfig.from_yaml(os.path.join(REPO, "configs", "glt", name))
        affordable = {"cora_gat8.yaml": 8, "cora_pyg_gat.yaml": 8, "cora_gin64.yaml": 64, "cora_pyg_gin.yaml": 64}
        assert config.rounds == 20
        assert config.hidden == affordable.get(name, 512) or config.dataset.startswith("ogbn-")
    gat = GLTConfig.from_yaml(os.path.join(REPO, "configs", "glt", "citeseer_gat.yaml"))
    assert (gat.lr, gat.weight_decay, gat.s1, gat.s2, gat.heads) == (0.01, 5e-4, 1e-7, 1e-3, 8)
    for name in os.listdir(os.path.join(REPO, "configs", "linkpred")):
        link = GLTConfig.from_yaml(os.path.join(REPO, "configs", "linkpred", name))
        assert link.task == "link" and link.l1 == "decoupled"
        assert link.embedding == (256 if link.dataset.startswith("ogbl-") else 64)
    for name in os.listdir(os.path.join(REPO, "configs", "graphcls")):
        assert GLTConfig.from_yaml(os.path.join(REPO, "configs", "graphcls", name)).task == "graph"
    with pytest.raises(ConfigError, match="task must be one of"):
        GLTConfig(dataset="Cora", task="edges")
    pretrained = GLTConfig.from_yaml(os.path.join(REPO, "configs", "glt", "cora_gcn_graphcl.yaml"))
    assert pretrained.init == "runs/graphcl_cora/seed_0/encoder.pt"
    from graphlottery.contrastive.run import GraphCLConfig

    for name in os.listdir(os.path.join(REPO, "configs", "graphcl")):
        config = GraphCLConfig.from_yaml(os.path.join(REPO, "configs", "graphcl", name))
        assert config.aug_ratio == 0.2 and (config.level == "graph") == (config.hidden == 32)


def test_unknown_key_and_bad_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dataset: Cora\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="unknown config key.*learning_rate"):
        GLTConfig.from_yaml(path)
    with pytest.raises(ConfigError, match="'lr' must be float"):
        GLTConfig.from_dict({"dataset": "Cora", "lr": "fast"})
    with pytest.raises(ConfigError, match="prune_weight"):
        GLTConfig.from_dict({"dataset": "Cora", "prune_weight": 1.5})
    with pytest.raises(ConfigError, match="does not exist"):
        GLTConfig.from_yaml(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not a torch device"):
        GLTConfig.from_dict({"dataset": "Cora", "device": "gpu0"})


def test_reference_switch_sets_original_choices():
    config = GLTConfig.from_dict({"dataset": "Cora", "reference": True})
    assert config.directed and config.mask_weight_decay
    assert not GLTConfig.from_dict({"dataset": "Cora"}).directed


def test_loading_never_writes_into_the_data_root(cora):
    root = os.environ["GRAPHLOTTERY_DATA"]
    assert cora.num_nodes == 2708 and cora.edge_index.size(1) == 10556
    assert int(cora.train_mask.sum()) == 140 and int(cora.test_mask.sum()) == 1000
    assert not os.path.exists(os.path.join(root, "Planetoid", "Cora", "processed"))


def test_missing_dataset_names_path_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"searched .*Planetoid/PubMed/raw.*expected files: ind\.pubmed\.x"):
        load_planetoid("PubMed", root=tmp_path)


def test_unreachable_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a readable directory"):
        load_planetoid("Cora", root=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown Planetoid"):
        load_planetoid("Amazon", root=tmp_path)


def test_runs_saved_before_new_keys_still_resume(tmp_path):
    import yaml

    from graphlottery.lottery.glt import RUN_ONLY

    config = GLTConfig(dataset="Cora")
    old = {k: v for k, v in config.to_dict().items() if k not in ("num_neighbors", "batch_size", "pool")}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    config.check_resume(tmp_path, RUN_ONLY)  # keys the old run did not know take their defaults


def test_runs_saved_before_a_behaviour_changing_key_are_refused(tmp_path):
    """A key whose default changed what runs did resumes with the value old runs used (LEGACY)."""
    import yaml

    from graphlottery.lottery.glt import RUN_ONLY

    def saved(graph_mask):
        config = GLTConfig(dataset="MUTAG", task="graph", graph_mask=graph_mask)
        old = {k: v for k, v in config.to_dict().items() if k not in ("scorer_hops", "scorer_dim")}
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
        (tmp_path / "seed_0").mkdir(exist_ok=True)  # a run with a finished round, not just a failed start
        (tmp_path / "seed_0" / "history.json").write_text("[{}]")

    saved("inductive")  # its scorer read atom types only: scorer_hops 0
    with pytest.raises(ConfigError, match=r"scorer_hops.*written before.*'scorer_hops': 0"):
        GLTConfig(dataset="MUTAG", task="graph", graph_mask="inductive").check_resume(tmp_path, RUN_ONLY)
    GLTConfig(dataset="MUTAG", task="graph", graph_mask="inductive", scorer_hops=0).check_resume(tmp_path, RUN_ONLY)
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["scorer_hops"] == 0
    saved("free")  # a free mask reads no scorer: the key does not matter
    GLTConfig(dataset="MUTAG", task="graph", graph_mask="free").check_resume(tmp_path, RUN_ONLY)
    # a run from before ``scorer_dim`` (full width, the default) resumes; a projection is a change
    config = GLTConfig(dataset="MUTAG", task="graph", graph_mask="inductive")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({k: v for k, v in config.to_dict().items()
                                                          if k != "scorer_dim"}))
    config.check_resume(tmp_path, RUN_ONLY)
    with pytest.raises(ConfigError, match="scorer_dim"):
        GLTConfig(dataset="MUTAG", task="graph", graph_mask="inductive", scorer_dim=8).check_resume(tmp_path, RUN_ONLY)
