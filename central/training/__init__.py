"""Central's training: the edge detector fine-tuned on re-analysis datasets, exported with the appliance's
contract, and gated by evaluation before it may go anywhere (needs the `train` extra: PyTorch)."""
