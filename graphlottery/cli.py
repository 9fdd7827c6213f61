"""The ``graphlottery`` command."""
from __future__ import annotations

import argparse
import sys

from graphlottery.config import GLTConfig
from graphlottery.lottery.glt import format_table, run_glt
from graphlottery.runtime import keep_freed_memory, reexec_with_huge_pages


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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="graphlottery", description="Graph lottery tickets on PyTorch Geometric.")
    sub = root.add_subparsers(dest="command", required=True)
    glt = sub.add_parser("glt", help="find graph lottery tickets with UGS rounds (node classification)")
    glt.add_argument("config", help="YAML config, e.g. configs/glt/cora_gcn.yaml")
    glt.add_argument("--out", required=True, help="output folder; an existing one is resumed")
    glt.add_argument("--rounds", type=int, help="number of pruning rounds (default from config: 20)")
    glt.add_argument("--epochs", type=int, help="epochs for both mask search and retraining")
    glt.add_argument("--seeds", type=int, nargs="+", help="seeds, e.g. --seeds 0 1 2")
    glt.add_argument("--device", help="cpu, cuda, cuda:1, ...")
    glt.add_argument("--data-root", help="dataset root (default $GRAPHLOTTERY_DATA)")
    glt.add_argument("--reference", action="store_true", default=None,
                     help="reproduce the original code: directed edges, weight decay on masks")
    glt.add_argument("--no-baseline", action="store_true", help="skip the random-pruning baseline")
    glt.add_argument("--init", help="encoder checkpoint to start from (e.g. runs/graphcl_cora/seed_0/encoder.pt)")
    glt.add_argument("--quiet", action="store_true", help="no progress bars")
    glt.set_defaults(func=_glt)

    cb = sub.add_parser("coldbrew", help="Cold Brew: GNN teacher distilled into an MLP for cold-start nodes")
    cb.add_argument("config", help="YAML config, e.g. configs/coldbrew/cora.yaml")
    cb.add_argument("--out", required=True, help="output folder; finished seeds in an existing one are kept")
    cb.add_argument("--seeds", type=int, nargs="+", help="seeds, e.g. --seeds 0 1 2")
    cb.add_argument("--epochs", type=int, help="training epochs of the GCN, MLP, teacher and student")
    cb.add_argument("--ticket", help="a GCN ticket file the teacher starts from (its weights and masks)")
    cb.add_argument("--device", help="cpu, cuda, cuda:1, ...")
    cb.add_argument("--data-root", help="dataset root (default $GRAPHLOTTERY_DATA)")
    cb.add_argument("--quiet", action="store_true", help="no progress bars")
    cb.set_defaults(func=_coldbrew)

    cl = sub.add_parser("graphcl", help="GraphCL: contrastive pre-training and evaluation of an encoder")
    cl.add_argument("config", help="YAML config, e.g. configs/graphcl/mutag.yaml")
    cl.add_argument("--out", required=True, help="output folder; finished seeds in an existing one are kept")
    cl.add_argument("--seeds", type=int, nargs="+", help="seeds, e.g. --seeds 0 1 2")
    cl.add_argument("--epochs", type=int, help="pre-training epochs")
    cl.add_argument("--joao", action="store_true", help="learn the augmentation distribution with JOAO")
    cl.add_argument("--device", help="cpu, cuda, cuda:1, ...")
    cl.add_argument("--data-root", help="dataset root (default $GRAPHLOTTERY_DATA)")
    cl.add_argument("--quiet", action="store_true", help="no progress bars")
    cl.set_defaults(func=_graphcl)

    imp = sub.add_parser("imp", help="iterative magnitude pruning with rewinding (CNNs), with random baselines")
    imp.add_argument("config", help="YAML config, e.g. configs/imp/digits_resnet.yaml")
    imp.add_argument("--out", required=True, help="output folder; an existing one is resumed")
    imp.add_argument("--rounds", type=int, help="pruning rounds")
    imp.add_argument("--epochs", type=int, help="training epochs per round")
    imp.add_argument("--seeds", type=int, nargs="+", help="seeds, e.g. --seeds 0 1 2")
    imp.add_argument("--device", help="cpu, cuda, cuda:1, ...")
    imp.add_argument("--quiet", action="store_true", help="no progress bars")
    imp.set_defaults(func=_imp)
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
