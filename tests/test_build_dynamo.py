"""A digits CNN exported with torch's default (dynamo) exporter -- weights in an external data file, ReduceMean
for the global pool, Reshape from a computed shape, ReLU6 and a general clamp as Clip -- built end to end like the
zoo's digits models: fine-tuned ternary compression, hls4ml C-sim vs ONNX Runtime, the golden model bit-exact
with the C-sim, and fcomp_accel simulated in Verilator bit-exact with the golden model."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from compiler.compress.engine import CompressionConfig
from compiler.datasets import load_digits_split
from compiler.pipeline import BuildOptions, build

pytestmark = pytest.mark.sim


class DigitsDynamo(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 8, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.c2 = torch.nn.Conv2d(8, 16, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(16)
        self.c3 = torch.nn.Conv2d(16, 16, 3, 1, 1)
        self.relu6 = torch.nn.ReLU6()
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x):
        y = torch.max_pool2d(torch.relu(self.bn1(self.c1(x))), 2)
        y = torch.max_pool2d(self.relu6(self.bn2(self.c2(y))), 2)          # Clip(0, 6)
        y = torch.clamp(self.c3(y), -1.0, 2.5) + y                           # Clip with general bounds
        y = y.mean((2, 3), keepdim=True)                                     # ReduceMean over H, W
        return self.fc(y.view(y.size(0), -1))


def _train_and_export(path):
    torch.manual_seed(0)
    xtr, ytr, _, _ = load_digits_split(seed=0, image_size=16)
    net = DigitsDynamo()
    opt = torch.optim.Adam(net.parameters(), 5e-3)
    x, y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        idx = torch.randint(0, len(x), (64,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    net.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 1, 16, 16),), str(path))     # dynamo=True is the default
    return net


def test_dynamo_exported_digits_model_builds_through_csim_and_rtl(tmp_path):
    import onnx

    path = tmp_path / "digits_dynamo.onnx"
    _train_and_export(path)
    raw = onnx.load_model(str(path), load_external_data=False)
    assert any(t.external_data for t in raw.graph.initializer)
    assert {"ReduceMean", "Clip", "Reshape"} <= {n.op_type for n in raw.graph.node}
    out = tmp_path / "out"
    report = build(BuildOptions(model=path, output=out, data="digits", n_check=24,
                                compression=CompressionConfig(epochs=3, target=8, max_drop=100.0)))
    ops = [l["op"] for l in report["layers"]]
    assert ops.count("clip") == 2 and "globalavgpool" in ops and "flatten" in ops
    check = report["check"]
    assert check["passed"] and check["top1_agreement_strict"] >= 0.95, check
    assert check["max_abs_error"] < 0.05 * check["output_max_abs"], check
    assert check["accuracy_csim"] >= 0.8, check
    golden = check["golden"]
    assert golden["bit_exact_vs_csim"], golden
    net = report["rtl"]["network"]
    assert net["passed"] and net["frames"] >= 2 and net["mismatches"] == 0, net
    verify = json.loads((out / "verify.json").read_text())
    assert verify["network"]["backpressure"]["mismatches"] == 0
    text = (out / "rtl" / "fcomp_accel" / "fcomp_accel.sv").read_text()
    assert text.count("fc_clip") >= 2
