"""The ``graphlottery`` command."""
from __future__ import annotations

import argparse
import sys

from graphlottery.config import GLTConfig
from graphlottery.lottery.glt import format_table, run_glt
from graphlottery.runtime import keep_freed_memory, reexec_with_huge_pages
from graphlottery.watermark.command import add_parser as add_watermark


def _glt(args: argparse.Namespace) -> None:
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


def _command(sub, name: str, func, summary: str, example: str, out: str, epochs: str, data_root: bool = True):
    """A subcommand with the options every driver shares; returns it for its own options."""
    cmd = sub.add_parser(name, help=summary)
    cmd.add_argument("config", help=f"YAML config, e.g. {example}")
    cmd.add_argument("--out", required=True, help=f"output folder; {out}")
    cmd.add_argument("--seeds", type=int, nargs="+", help="seeds, e.g. --seeds 0 1 2")
    cmd.add_argument("--epochs", type=int, help=epochs)
    cmd.add_argument("--device", help="cpu, cuda, cuda:1, ...")
    if data_root:
        cmd.add_argument("--data-root", help="dataset root (default $GRAPHLOTTERY_DATA)")
    cmd.add_argument("--quiet", action="store_true", help="no progress bars")
    cmd.set_defaults(func=func)
    return cmd


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="graphlottery", description="Graph lottery tickets on PyTorch Geometric.")
    sub = root.add_subparsers(dest="command", required=True)
    resumed, kept = "an existing one is resumed", "finished seeds in an existing one are kept"
    glt = _command(sub, "glt", _glt, "find graph lottery tickets with UGS rounds (node, link or graph tasks)",
                   "configs/glt/cora_gcn.yaml", resumed, "epochs for both mask search and retraining")
    glt.add_argument("--rounds", type=int, help="number of pruning rounds (default from config: 20)")
    glt.add_argument("--reference", action="store_true", default=None,
                     help="reproduce the original code: directed edges, weight decay on masks")
    glt.add_argument("--no-baseline", action="store_true", help="skip the random-pruning baseline")
    glt.add_argument("--init", help="encoder checkpoint to start from (e.g. runs/graphcl_cora/seed_0/encoder.pt)")

    cb = _command(sub, "coldbrew", _coldbrew, "Cold Brew: GNN teacher distilled into an MLP for cold-start nodes",
                  "configs/coldbrew/cora.yaml", kept, "training epochs of the GCN, MLP, teacher and student")
    cb.add_argument("--ticket", help="a GCN ticket file the teacher starts from (its weights and masks)")

    cl = _command(sub, "graphcl", _graphcl, "GraphCL: contrastive pre-training and evaluation of an encoder",
                  "configs/graphcl/mutag.yaml", kept, "pre-training epochs")
    cl.add_argument("--joao", action="store_true", help="learn the augmentation distribution with JOAO")

    imp = _command(sub, "imp", _imp, "iterative magnitude pruning with rewinding (CNNs, ViT), with random baselines",
                   "configs/imp/digits_resnet.yaml", resumed, "training epochs per round", data_root=False)
    imp.add_argument("--rounds", type=int, help="pruning rounds")
    add_watermark(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (FileNotFoundError, ValueError) as err:  # ConfigError and TicketError are ValueErrors
        print(f"graphlottery: error: {err}", file=sys.stderr)
        return 2
    return 0


def entry() -> None:
    """Console-script entry point: tune the allocator, then run :func:`main`."""
    reexec_with_huge_pages()
    keep_freed_memory()
    sys.exit(main())


if __name__ == "__main__":
    entry()
