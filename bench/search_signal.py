"""Which held-out signal predicts the test drop of a compressed model (issue 12's budget search)?

For a model and a few targets, compresses with pe-wise+wpc over seeds and prints, per run, the accuracy drop (points,
fp32 minus compressed) on the test split, on the carved validation split (data the fp32 model was trained on) and
on its noisy copies (`compiler.compress.engine.noisy_validation`, what the search checks besides validation).

Usage::

    python bench/search_signal.py [--model vgg_unseen] [--targets 16,21,24] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="vgg_unseen")
    ap.add_argument("--targets", default="16,21,24")
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args(argv)
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from bench import unseen
    from bench.compression import model_path
    from compiler.compress.engine import CompressionConfig, compress, noisy_validation, split_validation
    from compiler.compress.torch_ir import IRModule
    from compiler.data import load_training_data
    from compiler.frontend import import_onnx
    from compiler.plan import plan_layers

    g = import_onnx(model_path(args.model)).graph
    plan = plan_layers(g)
    data = (unseen.data(args.model) if args.model in unseen.UNSEEN
            else load_training_data("digits", g.inputs[0].shape, 0))
    d = split_validation(data)
    xn, yn = noisy_validation(d.x_val, d.y_val)

    def acc(graph, x, y):
        with torch.no_grad():
            out = IRModule(graph).eval()(torch.from_numpy(np.asarray(x, np.float32)))
        return float((out.argmax(1).numpy() == y).mean())

    splits = {"test": (d.x_test, d.y_test), "validation": (d.x_val, d.y_val), "noisy validation": (xn, yn)}
    fp32 = {k: acc(g, *v) for k, v in splits.items()}
    print(f"{args.model}: fp32 " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in fp32.items()))
    print("| target | seed | ratio | " + " | ".join(f"drop on {k}" for k in splits) + " |")
    print("|---:|---:|---:|" + "---:|" * len(splits))
    for t in (float(v) for v in args.targets.split(",")):
        for seed in (int(v) for v in args.seeds.split(",")):
            r = compress(g, plan, CompressionConfig(target=t, seed=seed), data)
            drops = [100 * (fp32[k] - acc(r.graph, *v)) for k, v in splits.items()]
            print(f"| {t:g} | {seed} | {r.ratio:.2f} | " + " | ".join(f"{x:.2f}" for x in drops) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
