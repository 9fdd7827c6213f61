"""The ``graphlottery`` command.

Parsing, ``--help``, ``--version``, ``configs``, ``init`` and a config that does not exist cost no
torch import: each command imports its driver when it runs, and only the training commands
re-execute the process with the allocator settings of :mod:`graphlottery.runtime`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from graphlottery import __version__
from graphlottery.bundled import CONFIG_DIR, GROUPS, bundled_configs, resolve_config

TRAINING = ("glt", "coldbrew", "graphcl", "imp")


def _glt(args: argparse.Namespace) -> None:
    from graphlottery.config import GLTConfig

    epochs = args.epochs
    config = GLTConfig.from_yaml(
        args.config,
        rounds=args.rounds,
        seeds=args.seeds,
        device=args.device,
        data_root=args.data_root,
        mask_epochs=epochs,
        retrain_epochs=epochs,
        reference=args.reference,
        random_baseline=False if args.no_baseline else None,
        init=args.init,
    )
    from graphlottery.lottery.glt import format_table, run_glt  # after the config: its errors come first

    results = run_glt(config, args.out, progress=not args.quiet)
    print(format_table(results))
    print(f"results: {args.out}/results.json, curve: {args.out}/curve.png")


def _coldbrew(args: argparse.Namespace) -> None:
    from graphlottery.coldbrew.run import ColdBrewConfig, format_table, run_coldbrew

    config = ColdBrewConfig.from_yaml(args.config, seeds=args.seeds, device=args.device, data_root=args.data_root,
                                      epochs=args.epochs, ticket=args.ticket)
    results = run_coldbrew(config, args.out, progress=not args.quiet)
    print(format_table(results))
    print(f"results: {args.out}/results.json, chart: {args.out}/accuracy.png")


def _graphcl(args: argparse.Namespace) -> None:
    from graphlottery.contrastive.run import GraphCLConfig, format_table, run_graphcl

    config = GraphCLConfig.from_yaml(args.config, seeds=args.seeds, device=args.device, data_root=args.data_root,
                                     epochs=args.epochs, joao=True if args.joao else None)
    results = run_graphcl(config, args.out, progress=not args.quiet)
    print(format_table(results))
    print(f"results: {args.out}/results.json, encoders: {args.out}/seed_<s>/encoder.pt")


def _imp(args: argparse.Namespace) -> None:
    from graphlottery.lottery.imp import IMPConfig, format_table, run_imp

    config = IMPConfig.from_yaml(args.config, rounds=args.rounds, epochs=args.epochs, seeds=args.seeds,
                                 device=args.device)
    results = run_imp(config, args.out, progress=not args.quiet)
    print(format_table(results))
    print(f"results: {args.out}/results.json, curve: {args.out}/curve.png")


def _bench(args: argparse.Namespace) -> None:
    import json

    from graphlottery.bench import METHODS, SWEEPS, BenchConfig, format_table, main_quick, run_bench

    out = Path(args.out or ("runs/bench_quick" if args.quick else "runs/bench"))
    if args.quick:
        print(json.dumps(main_quick(out, args.data_root, progress=not args.quiet)))
        return
    models, datasets = args.models or ["gcn", "gin", "gat"], args.datasets or ["Cora", "CiteSeer"]
    configs = args.configs or [f"glt/{d.lower()}_{m}" for m in models for d in datasets]
    bench = BenchConfig(configs=configs, methods=args.methods or list(METHODS), sweeps=args.sweeps or list(SWEEPS),
                        seeds=args.seeds or [0, 1, 2, 3, 4], levels=args.levels, epochs=args.epochs, jobs=args.jobs,
                        data_root=args.data_root, device=args.device or "cpu")
    summary = run_bench(bench, out, progress=not args.quiet)
    print(format_table(summary))
    print(f"bench: {out}/bench.json, {out}/table.md, {out}/<cell>.png")


def _watermark(args: argparse.Namespace) -> None:
    from graphlottery.watermark.command import embed_command, verify_command

    (embed_command if args.action == "embed" else verify_command)(args)


def _configs(args: argparse.Namespace) -> None:
    configs = bundled_configs(args.group)
    width = max(len(c.name) for c in configs)
    for c in configs:
        print(f"{c.name:<{width}}  {c.command:<8} {c.dataset:<13} {c.model:<9} {c.method:<26} {c.summary}")
    print(f"\nrun one:          graphlottery glt cora_gcn      (a name, or group/name: glt linkpred/cora_gcn)\n"
          f"copy one to edit: graphlottery init cora_gcn     (files in {CONFIG_DIR})")


def _init(args: argparse.Namespace) -> None:
    source = resolve_config(args.name)
    if source.resolve().parent.parent != CONFIG_DIR.resolve():
        raise FileNotFoundError(f"{args.name!r} is not a bundled config's name; `graphlottery configs` lists them")
    dest = Path(args.dest) if args.dest else Path(f"{source.stem}.yaml")
    if dest.is_dir():
        dest = dest / f"{source.stem}.yaml"
    if dest.exists() and not args.force:
        raise FileExistsError(f"{str(dest)!r} exists; pass --force to overwrite it")
    shutil.copyfile(source, dest)
    command = GROUPS[source.parent.name][0]
    print(f"wrote {dest} (from {source.parent.name}/{source.stem}); edit it, then: "
          f"graphlottery {command} {dest}")


def _summary(args: argparse.Namespace) -> None:
    from graphlottery.compare import read_run, summary_table

    print(summary_table(read_run(args.run)))


def _compare(args: argparse.Namespace) -> None:
    from graphlottery.compare import compare_table, plot_compare, read_run

    runs = [read_run(path) for path in args.runs]
    print(compare_table(runs))
    print(f"plot: {plot_compare(runs, args.out, x=args.x, random=args.random)}")


def _default_out(config: Path) -> str:
    """``runs/<name>``; a bundled config outside the ``glt`` group gets its group as a prefix."""
    if config.resolve().parent.parent == CONFIG_DIR.resolve() and config.parent.name != "glt":
        return f"runs/{config.parent.name}_{config.stem}"
    return f"runs/{config.stem}"


def _command(sub, name: str, func, summary: str, example: str, out: str, epochs: str, data_root: bool = True):
    """A subcommand with the options every driver shares; returns it for its own options."""
    cmd = sub.add_parser(name, help=summary)
    cmd.add_argument("config", help=f"a bundled config's name (`graphlottery configs`), e.g. {example}, or a YAML file")
    cmd.add_argument("--out", help=f"output folder (default runs/<config name>); {out}")
    cmd.add_argument("--seeds", type=int, nargs="+", help="seeds, e.g. --seeds 0 1 2")
    cmd.add_argument("--epochs", type=int, help=epochs)
    cmd.add_argument("--device", help="cpu, cuda, cuda:1, ...")
    if data_root:
        cmd.add_argument("--data-root",
                         help="dataset root (default $GRAPHLOTTERY_DATA, else ~/.cache/graphlottery/data)")
        cmd.add_argument("--offline", action="store_true",
                         help="never download a dataset missing from the data root (also $GRAPHLOTTERY_OFFLINE=1)")
    cmd.add_argument("--quiet", action="store_true", help="no progress bars")
    cmd.set_defaults(func=func)
    return cmd


def _add_watermark(sub) -> None:
    wm = sub.add_parser("watermark", help="embed a keyed signature into a ticket's masks, or verify one")
    actions = wm.add_subparsers(dest="action", required=True)
    embed = actions.add_parser("embed", help="write a signature into a ticket file")
    embed.add_argument("ticket", help="ticket file, e.g. runs/cora_gcn/seed_0/round_04.pt")
    embed.add_argument("--payload", required=True, help="the signature text, e.g. your name and a date")
    embed.add_argument("--seed", type=int, required=True, help="the key's secret seed")
    embed.add_argument("--key", required=True, help="where to write the secret key (JSON)")
    embed.add_argument("--out", required=True, help="where to write the watermarked ticket")
    embed.add_argument("--pairs", type=int, default=256, help="cell pairs per layer (capped per layer)")
    embed.add_argument("--layers", nargs="+", help="weights to write into (default: every mask large enough)")
    embed.add_argument("--graph-pairs", type=int, default=256, help="edge pairs in the graph mask")
    embed.add_argument("--weights-only", action="store_true", help="leave the graph mask alone")
    verify = actions.add_parser("verify", help="look for a key's signature in a suspect ticket file")
    verify.add_argument("suspect", help="the suspect's ticket file, or a saved state_dict / dict of masks")
    verify.add_argument("--key", required=True, help="the owner's secret key")
    verify.add_argument("--alpha", type=float, default=1e-6,
                        help="significance level of the verdict (default 1e-6; never read from the key)")
    for cmd in (embed, verify):
        cmd.add_argument("--dataset", help="the graph of the ticket's edge mask (default: from the ticket)")
        cmd.add_argument("--data-root", help="dataset root (default $GRAPHLOTTERY_DATA)")
        cmd.set_defaults(func=_watermark)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="graphlottery", description="Graph lottery tickets on PyTorch Geometric.")
    root.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = root.add_subparsers(dest="command", required=True)
    resumed, kept = "an existing one is resumed", "finished seeds in an existing one are kept"
    glt = _command(sub, "glt", _glt, "find graph lottery tickets with UGS rounds (node, link or graph tasks)",
                   "cora_gcn", resumed, "epochs for both mask search and retraining")
    glt.add_argument("--rounds", type=int, help="number of pruning rounds (default from config: 20)")
    glt.add_argument("--reference", action="store_true", default=None,
                     help="reproduce the original code: directed edges, weight decay on masks")
    glt.add_argument("--no-baseline", action="store_true", help="skip the random-pruning baseline")
    glt.add_argument("--init", help="encoder checkpoint to start from (e.g. runs/graphcl_cora/seed_0/encoder.pt)")

    cb = _command(sub, "coldbrew", _coldbrew, "Cold Brew: GNN teacher distilled into an MLP for cold-start nodes",
                  "cora", kept, "training epochs of the GCN, MLP, teacher and student")
    cb.add_argument("--ticket", help="a GCN ticket file the teacher starts from (its weights and masks)")

    cl = _command(sub, "graphcl", _graphcl, "GraphCL: contrastive pre-training and evaluation of an encoder",
                  "mutag", kept, "pre-training epochs")
    cl.add_argument("--joao", action="store_true", help="learn the augmentation distribution with JOAO")

    imp = _command(sub, "imp", _imp, "iterative magnitude pruning with rewinding (CNNs, ViT), with random baselines",
                   "digits_resnet", resumed, "training epochs per round", data_root=False)
    imp.add_argument("--rounds", type=int, help="pruning rounds")
    _add_watermark(sub)

    configs = sub.add_parser("configs", help="list the bundled configs")
    configs.add_argument("group", nargs="?", choices=sorted(GROUPS), help="only this group")
    configs.set_defaults(func=_configs)
    init = sub.add_parser("init", help="copy a bundled config into a file to edit")
    init.add_argument("name", help="a bundled config's name, e.g. cora_gcn or linkpred/cora_gcn")
    init.add_argument("dest", nargs="?", help="file or folder to write (default ./<name>.yaml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=_init)

    bench = sub.add_parser("bench", help="rank graph sparsifiers under one protocol (graph, weight and joint sweeps)")
    bench.add_argument("--configs", nargs="+", help="GLT configs making the cells (default: glt/<dataset>_<model>)")
    bench.add_argument("--models", nargs="+", help="models of the cells (default gcn gin gat)")
    bench.add_argument("--datasets", nargs="+", help="datasets of the cells (default Cora CiteSeer)")
    bench.add_argument("--methods", nargs="+",
                       help="methods, with options as name:key=value,... (default: all of them)")
    bench.add_argument("--sweeps", nargs="+", help="graph, weight, joint (default all three)")
    bench.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2 3 4)")
    bench.add_argument("--levels", type=int, default=20, help="levels per sweep, 1 - (1 - p)^k (default 20)")
    bench.add_argument("--epochs", type=int, help="epochs of every phase (default: each config's)")
    bench.add_argument("--jobs", type=int, default=1, help="jobs at a time, each in its own process (default 1)")
    bench.add_argument("--device", help="cpu, cuda, ...")
    bench.add_argument("--data-root", help="dataset folder (default $GRAPHLOTTERY_DATA or ~/.graphlottery/data)")
    bench.add_argument("--out", help="output folder (default runs/bench, runs/bench_quick with --quick)")
    bench.add_argument("--quick", action="store_true",
                       help="GCN on Cora, 2 levels, 10 epochs, 2 seeds: one JSON line per method's extremes")
    bench.add_argument("--quiet", action="store_true", help="no progress bars")
    bench.set_defaults(func=_bench)

    summary = sub.add_parser("summary", help="print a finished run's table again")
    summary.add_argument("run", help="the run's --out folder")
    summary.set_defaults(func=_summary)
    compare = sub.add_parser("compare", help="overlay several runs' curves in one plot, with one table")
    compare.add_argument("runs", nargs="+", help="finished glt or imp runs' --out folders")
    compare.add_argument("--out", default="compare.png", help="the PNG to write (default compare.png)")
    compare.add_argument("--x", choices=("weight", "graph"), default="weight",
                         help="x axis: weight or graph sparsity (default weight)")
    compare.add_argument("--random", action="store_true", help="add each run's random-pruning baseline")
    compare.set_defaults(func=_compare)
    return root


def main(argv: list[str] | None = None, tune_allocator: bool = False) -> int:
    """Run the command ``argv``; ``tune_allocator``: before training, apply
    :func:`~graphlottery.runtime.reexec_with_huge_pages` and
    :func:`~graphlottery.runtime.keep_freed_memory` (the console script does)."""
    args = parser().parse_args(argv)
    if getattr(args, "offline", False):
        os.environ["GRAPHLOTTERY_OFFLINE"] = "1"  # graphlottery.data.download.OFFLINE_ENV (that import costs torch)
    try:
        if args.command in TRAINING:
            args.config = resolve_config(args.config, args.command)
            args.out = args.out or _default_out(args.config)
            if tune_allocator:
                from graphlottery.runtime import keep_freed_memory, reexec_with_huge_pages

                reexec_with_huge_pages()
                keep_freed_memory()
        args.func(args)
    except KeyboardInterrupt:
        print("graphlottery: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except (ImportError, OSError, ValueError) as err:  # ConfigError, TicketError, RunFolderError: ValueErrors
        from graphlottery.errors import one_line

        print(f"graphlottery: error: {one_line(err)}", file=sys.stderr)
        return 2
    return 0


def entry() -> None:
    """Console-script entry point: :func:`main` with the allocator tuned for training."""
    sys.exit(main(tune_allocator=True))


if __name__ == "__main__":
    entry()
