"""Run by torchrun in tests/test_compress_engine.py: compress digits_mlp on every rank, write each rank's digest."""

import json
import os
import sys
from pathlib import Path

import torch

from compiler.compress.engine import CompressionConfig, compress, weights_digest
from compiler.compress.torch_ir import IRModule
from compiler.data import load_training_data
from compiler.frontend import import_onnx
from compiler.plan import plan_layers

torch.set_num_threads(1)
model, out = Path(sys.argv[1]), Path(sys.argv[2])
graph = import_onnx(model).graph
data = load_training_data("digits", graph.inputs[0].shape)
result = compress(graph, plan_layers(graph), CompressionConfig(strategy="pe-wise+wpc", epochs=3, target=16), data)
rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
(out / f"rank{rank}.json").write_text(json.dumps({
    "rank": rank, "world": world, "pid": os.getpid(), "digest": weights_digest(IRModule(result.graph)),
    "accuracy": result.accuracy_after}))
torch.distributed.destroy_process_group()
