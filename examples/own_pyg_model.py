"""Graph lottery tickets for your own PyG model in a few lines.

    GRAPHLOTTERY_DATA=../shared/data python examples/own_pyg_model.py
"""
import torch
from torch_geometric.nn.models import GCN

from graphlottery import UGS, Ticket, load_planetoid

data = load_planetoid("Cora")  # from $GRAPHLOTTERY_DATA
torch.manual_seed(0)
model = GCN(data.num_features, 256, num_layers=2, out_channels=7, dropout=0.5)

# PyG's GCN takes (x, edge_index, edge_weight): the edge mask arrives as edge_weight, before
# normalisation, exactly UGS's semantics. Every nn.Linear weight gets a weight mask.
ugs = UGS(model, data, lr=0.01, weight_decay=5e-4, s1=1e-2, s2=1e-2, mask_epochs=100, retrain_epochs=100)
print("dense  ", ugs.dense())
for _ in range(3):
    record = ugs.step()
    print(f"round {record['round']}: graph sparsity {record['graph_sparsity']:.3f}, "
          f"weight sparsity {record['weight_sparsity']:.3f}, test {record['test']:.3f}, MACs {record['macs']:,}")

path = ugs.ticket().save("cora_pyg_gcn_ticket.pt")
ticket = Ticket.load(path)  # safe loading; ticket.apply(model, ugs.masks, ugs.graph) restores it
print("saved", path, "with", len(ticket.weight_masks), "weight masks and", int(ticket.edge_mask.sum()), "kept edges")
