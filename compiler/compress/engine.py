"""The compression engine: one training loop, strategies as small epoch plans over it.

A strategy says, epoch by epoch, whether the ternary quantizer is on, which penalty applies, and when and how
masks are recomputed (`EpochSpec`); the engine runs the plan, so every strategy gets the same optimizer, data
order, checkpointing, distributed training and reporting. Without data the plan has no epochs: masks come from
the strategy's score on the given weights and the weights are ternarized as they are (data-free).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import FcompError
from ..ir import Graph
from ..plan import LayerMapping
from ..progress import log, progress_bar
from . import groups as G
from .ratio import LayerCost, dense_cost, structured_cost, total_ratio, unstructured_cost
from .ternary import int_weight, ternarize, ternary_weight
from .wpc import group_lasso


@dataclass
class CompressionConfig:
    strategy: str = "pe-wise+wpc"
    target: float = 21.0            # total compression ratio to reach (ignored by ternary-only)
    epochs: int = 30
    lr: float = 2e-3
    batch_size: int = 64
    penalty: float = 2e-4           # lambda of the group-lasso / WPC term
    seed: int = 0
    per_channel: bool = True        # ternary threshold and scale per output channel
    first_last_bits: int = 2        # 2: ternary like the rest; 8: first and last layers kept at 8 bits, unpruned
    device: str = "cpu"
    checkpoint_dir: Path | None = None
    resume: bool = False
    stop_after_epoch: int | None = None   # testing aid: raise KeyboardInterrupt after this epoch (resume tests)


@dataclass
class TrainData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass
class EpochSpec:
    quantize: bool = True
    penalty: str = "none"           # none | group | wpc
    prune_keep: float | None = None  # recompute masks at the end of the epoch to keep this share
    snapshot: bool = False           # remember the weights as the rewind point (lottery tickets)
    rewind: bool = False             # after pruning, reset surviving weights to the rewind point


@dataclass
class Layer:
    name: str
    module: torch.nn.Module
    mapping: LayerMapping
    bits: int                       # 2 ternary, 8 integer
    prunable: bool
    mask: torch.Tensor | None = None
    gmask: torch.Tensor | None = None


@dataclass
class CompressionResult:
    graph: Graph
    strategy: str
    data_free: bool
    target: float
    ratio: float
    keep_fraction: float
    layers: list[dict]
    history: list[dict] = field(default_factory=list)
    accuracy_before: float | None = None
    accuracy_after: float | None = None

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "data_free": self.data_free, "target_ratio": self.target,
                "ratio": round(self.ratio, 3), "keep_fraction": round(self.keep_fraction, 4),
                "accuracy_before": self.accuracy_before, "accuracy_after": self.accuracy_after,
                "accuracy_drop_points": (None if self.accuracy_before is None else
                                         round(100 * (self.accuracy_before - self.accuracy_after), 3)),
                "layers": self.layers, "history": self.history}


# ---- strategies -------------------------------------------------------------------------------------------------
def _cubic(start: float, end: float, n: int) -> list[float]:
    """Zhu & Gupta's gradual pruning schedule: fast early, gentle late."""
    return [end + (start - end) * (1 - (i + 1) / n) ** 3 for i in range(n)]


class Strategy:
    name = ""
    structured = False
    needs_data = False
    description = ""

    def plan(self, epochs: int, keep: float) -> list[EpochSpec]:
        raise NotImplementedError

    def scores(self, ctx: "Context", layer: Layer) -> torch.Tensor:
        """Importance of each weight (unstructured) or each group (structured); higher is kept."""
        return layer.module.weight.detach().abs()

    def initial_masks(self, ctx: "Context", keep: float) -> bool:
        """Strategies that fix their mask before training (synflow, random) set it here."""
        return False


class TernaryOnly(Strategy):
    name, description = "ternary-only", "ternary weights, no pruning"

    def plan(self, epochs, keep):
        return [EpochSpec(quantize=True) for _ in range(epochs)]


class PEWise(Strategy):
    name, structured, description = "pe-wise", True, "PE-wise balanced group pruning + ternary, plain group lasso"
    penalty = "group"

    def plan(self, epochs, keep):
        warm = max(1, round(0.3 * epochs))
        prune = max(1, round(0.4 * epochs))
        tune = max(0, epochs - warm - prune)
        return ([EpochSpec(penalty=self.penalty) for _ in range(warm)]
                + [EpochSpec(penalty=self.penalty, prune_keep=k) for k in _cubic(1.0, keep, prune)]
                + [EpochSpec() for _ in range(tune)])

    def scores(self, ctx, layer):
        w = G.as_matrix(layer.module.weight.detach())
        if self.penalty == "wpc":  # rank groups by the clipped norm WPC acts on
            from .ternary import ternary_threshold

            d = ternary_threshold(layer.module.weight, layer.mask, ctx.cfg.per_channel)
            w = torch.maximum(torch.minimum(w, d), -d)
        return G.group_norms(w, layer.mapping.simd)


class PEWiseWPC(PEWise):
    name, description = "pe-wise+wpc", "PE-wise balanced group pruning + ternary, group lasso with WPC"
    penalty = "wpc"


class Magnitude(Strategy):
    name, description = "magnitude", "unstructured gradual magnitude pruning + ternary"

    def plan(self, epochs, keep):
        warm = max(1, round(0.3 * epochs))
        prune = max(1, round(0.4 * epochs))
        return ([EpochSpec() for _ in range(warm)]
                + [EpochSpec(prune_keep=k) for k in _cubic(1.0, keep, prune)]
                + [EpochSpec() for _ in range(max(0, epochs - warm - prune))])


class Lottery(Strategy):
    name, needs_data = "lottery", True
    description = "iterative magnitude pruning with weight rewinding (Frankle et al.), ternary in the last round"
    rounds = 3

    def plan(self, epochs, keep):
        per = max(1, epochs // (self.rounds + 1))
        specs = []
        for r in range(self.rounds):
            for e in range(per):
                last = e == per - 1
                specs.append(EpochSpec(quantize=False, snapshot=(r == 0 and e == 0),
                                       prune_keep=keep ** ((r + 1) / self.rounds) if last else None, rewind=last))
        specs += [EpochSpec() for _ in range(max(1, epochs - len(specs)))]
        return specs


class SynFlow(Strategy):
    name, description = "synflow", "SynFlow (Tanaka et al.), data-free iterative synaptic flow, then ternary training"
    iterations = 20

    def plan(self, epochs, keep):
        return [EpochSpec() for _ in range(epochs)]

    def initial_masks(self, ctx, keep):
        model = ctx.model
        saved = {n: l.module.weight.detach().clone() for n, l in ctx.layers.items()}
        model.eval()
        shape = (1, *ctx.graph.inputs[0].shape)
        for it in range(self.iterations):
            frac = keep ** ((it + 1) / self.iterations)
            for n, l in ctx.layers.items():
                l.module.weight.data = saved[n].abs() * (l.mask if l.mask is not None else 1)
                l.module.weight.grad = None
            ctx.model.weight_transform = {}
            out = model(torch.ones(shape))
            out.sum().backward()
            scores = {n: (l.module.weight.grad * l.module.weight).detach().abs() for n, l in ctx.layers.items()}
            ctx.set_global_masks(scores, frac)
        for n, l in ctx.layers.items():
            l.module.weight.data = saved[n] * (l.mask if l.mask is not None else 1)
            l.module.weight.grad = None
        return True


class RandomTicket(Strategy):
    name, description = "random", "random unstructured mask of the same size (a control)"

    def plan(self, epochs, keep):
        return [EpochSpec() for _ in range(epochs)]

    def initial_masks(self, ctx, keep):
        g = torch.Generator().manual_seed(ctx.cfg.seed + 7)
        ctx.set_masks({n: torch.rand(l.module.weight.shape, generator=g) for n, l in ctx.layers.items()}, keep)
        return True


class InverseTicket(Strategy):
    name = "inverse"
    description = "'bad' ticket: keeps the smallest-magnitude weights after dense training (a control)"

    def plan(self, epochs, keep):
        half = max(1, epochs // 2)
        return ([EpochSpec(quantize=False) for _ in range(half - 1)] + [EpochSpec(quantize=False, prune_keep=keep)]
                + [EpochSpec() for _ in range(max(1, epochs - half))])

    def scores(self, ctx, layer):
        return -layer.module.weight.detach().abs()


STRATEGIES: dict[str, type[Strategy]] = {s.name: s for s in (PEWiseWPC, PEWise, TernaryOnly, Magnitude, Lottery,
                                                             SynFlow, RandomTicket, InverseTicket)}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise FcompError(f"unknown compression strategy '{name}'; known: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]()


# ---- the engine --------------------------------------------------------------------------------------------------
def layer_bits(graph: Graph, first_last_bits: int) -> dict[str, int]:
    """Weight bits of each weighted layer after compression: 2 (ternary), the first and last at first_last_bits."""
    names = [n.name for n in graph.weighted()]
    return {name: first_last_bits if i in (0, len(names) - 1) else 2 for i, name in enumerate(names)}


class Context:
    def __init__(self, graph: Graph, plan: dict[str, LayerMapping], cfg: CompressionConfig,
                 data: TrainData | None, strategy: Strategy):
        from .torch_ir import IRModule, weighted_modules

        torch.manual_seed(cfg.seed)
        self.graph, self.plan, self.cfg, self.data, self.strategy = graph, plan, cfg, data, strategy
        self.model = IRModule(graph).to(cfg.device)
        mods = weighted_modules(self.model)
        self.layers: dict[str, Layer] = {}
        for name, bits in layer_bits(graph, cfg.first_last_bits).items():
            self.layers[name] = Layer(name, mods[name], plan[name], bits, prunable=(bits == 2))
        self.history: list[dict] = []
        self.epoch = 0
        self.snapshot: dict[str, torch.Tensor] | None = None
        self.world, self.rank = 1, 0
        maybe_init_distributed(cfg.device)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            self.world, self.rank = torch.distributed.get_world_size(), torch.distributed.get_rank()

    # masks -------------------------------------------------------------------------------------------------------
    def keep_counts(self, layer: Layer, keep: float) -> int:
        m = layer.mapping
        return G.keep_per_pe(m, keep) if self.strategy.structured else max(1, round(keep * m.rows * m.cols))

    def set_masks(self, scores: dict[str, torch.Tensor], keep: float) -> None:
        """Per-layer masks keeping `keep` of each prunable layer (balanced per PE when structured)."""
        for name, layer in self.layers.items():
            if not layer.prunable:
                continue
            s = scores[name]
            w = layer.module.weight
            if self.strategy.structured:
                layer.gmask = G.balanced_group_mask(s.cpu(), layer.mapping.pe, self.keep_counts(layer, keep))
                layer.mask = G.expand_group_mask(layer.gmask, tuple(w.shape), layer.mapping.simd).to(w.device)
            else:
                flat = s.reshape(-1).cpu()
                order = torch.argsort(-flat, stable=True)[:self.keep_counts(layer, keep)]
                m = torch.zeros(flat.numel(), dtype=torch.bool)
                m[order] = True
                layer.mask = m.reshape(w.shape).to(w.device)
            with torch.no_grad():
                w.mul_(layer.mask)

    def set_global_masks(self, scores: dict[str, torch.Tensor], keep: float) -> None:
        """One threshold across layers (SynFlow prunes globally)."""
        prunable = [n for n, l in self.layers.items() if l.prunable]
        allv = torch.cat([scores[n].reshape(-1) for n in prunable])
        k = max(1, round(keep * allv.numel()))
        thr = torch.topk(allv, k).values[-1]
        for n in prunable:
            layer = self.layers[n]
            layer.mask = (scores[n] >= thr) & (scores[n] > 0) if k < allv.numel() else torch.ones_like(scores[n]).bool()
            if not layer.mask.any():
                layer.mask.reshape(-1)[scores[n].reshape(-1).argmax()] = True

    def update_masks(self, keep: float) -> None:
        self.set_masks({n: self.strategy.scores(self, l) for n, l in self.layers.items() if l.prunable}, keep)

    # quantization ------------------------------------------------------------------------------------------------
    def set_quantize(self, on: bool) -> None:
        transforms: dict[str, Callable] = {}
        for name, layer in self.layers.items():
            if on and layer.bits == 2:
                transforms[name] = (lambda w, l=layer: ternary_weight(w, l.mask, self.cfg.per_channel))
            elif on:
                transforms[name] = (lambda w, l=layer: int_weight(w, l.bits, l.mask))
            elif layer.mask is not None:
                transforms[name] = (lambda w, l=layer: w * l.mask)
        self.model.weight_transform = transforms

    # cost ---------------------------------------------------------------------------------------------------------
    def costs(self, keep: float | None = None) -> list[LayerCost]:
        """Per-layer storage; with `keep` it is the estimate for that share, else the exact cost of the masks."""
        out = []
        for name, layer in self.layers.items():
            m = layer.mapping
            if not layer.prunable:
                out.append(dense_cost(name, m.rows, m.cols, layer.bits) if layer.bits != 2 else
                           structured_cost(name, m.rows, m.cols, m.simd, m.rows * G.n_blocks(m.cols, m.simd)))
            elif keep is not None:
                if self.strategy.structured:
                    out.append(structured_cost(name, m.rows, m.cols, m.simd, m.pe * self.keep_counts(layer, keep)))
                else:
                    out.append(unstructured_cost(name, m.rows, m.cols, self.keep_counts(layer, keep)))
            elif layer.mask is None:
                out.append(structured_cost(name, m.rows, m.cols, m.simd, m.rows * G.n_blocks(m.cols, m.simd)))
            elif self.strategy.structured:
                out.append(structured_cost(name, m.rows, m.cols, m.simd, int(layer.gmask.sum()),
                                           stored_weights=int(layer.mask.sum())))
            else:
                out.append(unstructured_cost(name, m.rows, m.cols, int(layer.mask.sum())))
        return out

    def solve_keep(self, target: float) -> float:
        """Largest kept share whose total ratio reaches the target (ratio falls as the share grows)."""
        if isinstance(self.strategy, TernaryOnly) or not any(l.prunable for l in self.layers.values()):
            return 1.0
        lo, hi = 0.0, 1.0
        if total_ratio(self.costs(1.0)) >= target:
            return 1.0
        for _ in range(40):
            mid = (lo + hi) / 2
            if total_ratio(self.costs(mid)) >= target:
                lo = mid
            else:
                hi = mid
        if total_ratio(self.costs(max(lo, 1e-9))) < target:
            log.warning("target compression %.1fx is out of reach with this mapping; best is %.1fx",
                        target, total_ratio(self.costs(1e-9)))
        return max(lo, 1e-9)

    # training -----------------------------------------------------------------------------------------------------
    def evaluate(self) -> float | None:
        if self.data is None:
            return None
        self.model.eval()
        x = torch.from_numpy(self.data.x_test).to(self.cfg.device)
        with torch.no_grad():
            pred = torch.cat([self.model(x[i:i + 256]).argmax(1) for i in range(0, len(x), 256)])
        return float((pred.cpu().numpy() == self.data.y_test).mean())

    def _penalty(self, kind: str) -> torch.Tensor:
        total = sum(l.module.weight.numel() for l in self.layers.values() if l.prunable)
        p = sum(group_lasso(l.module.weight, l.mapping, l.mask, clip=(kind == "wpc"), per_channel=self.cfg.per_channel)
                for l in self.layers.values() if l.prunable)
        return p / max(1, total)

    def train_epoch(self, spec: EpochSpec, opt: torch.optim.Optimizer) -> dict:
        cfg, d = self.cfg, self.data
        self.set_quantize(spec.quantize)
        self.model.train()
        g = torch.Generator().manual_seed(cfg.seed * 100003 + self.epoch)
        order = torch.randperm(len(d.x_train), generator=g)
        order = order[self.rank::self.world]        # each rank its shard; same order on every rank
        x_all, y_all = torch.from_numpy(d.x_train), torch.from_numpy(d.y_train).long()
        seen, loss_sum, correct = 0, 0.0, 0
        steps = math.ceil(len(order) / cfg.batch_size)
        for i in range(steps):
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            x, y = x_all[idx].to(cfg.device), y_all[idx].to(cfg.device)
            out = self.model(x)
            loss = F.cross_entropy(out, y)
            if spec.penalty != "none":
                loss = loss + cfg.penalty * self._penalty(spec.penalty) * 1e3
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.world > 1:
                for p in self.model.parameters():
                    if p.grad is not None:
                        torch.distributed.all_reduce(p.grad)
                        p.grad /= self.world
            opt.step()
            with torch.no_grad():
                for l in self.layers.values():
                    if l.mask is not None:
                        l.module.weight.mul_(l.mask)
            seen += len(idx)
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((out.argmax(1) == y).sum())
        return {"loss": loss_sum / max(1, seen), "train_accuracy": correct / max(1, seen)}

    def end_of_epoch(self, spec: EpochSpec) -> None:
        if spec.snapshot:
            self.snapshot = {n: l.module.weight.detach().clone() for n, l in self.layers.items()}
        if spec.prune_keep is not None:
            self.update_masks(spec.prune_keep)
        if spec.rewind and self.snapshot is not None:
            with torch.no_grad():
                for n, l in self.layers.items():
                    l.module.weight.copy_(self.snapshot[n] * (l.mask if l.mask is not None else 1))

    # checkpoints --------------------------------------------------------------------------------------------------
    def _ckpt_path(self) -> Path | None:
        d = self.cfg.checkpoint_dir
        return None if d is None else Path(d) / (f"compress-rank{self.rank}.pt")

    def save(self, opt) -> None:
        path = self._ckpt_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"epoch": self.epoch, "model": self.model.state_dict(), "opt": opt.state_dict(),
                 "masks": {n: l.mask for n, l in self.layers.items()},
                 "gmasks": {n: l.gmask for n, l in self.layers.items()}, "snapshot": self.snapshot,
                 "history": self.history, "strategy": self.strategy.name, "keep": self.keep}
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def load(self, opt) -> bool:
        path = self._ckpt_path()
        if path is None or not path.exists():
            return False
        state = torch.load(path, weights_only=False)
        if state["strategy"] != self.strategy.name:
            raise FcompError(f"checkpoint {path} is for strategy {state['strategy']}, not {self.strategy.name}")
        self.model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        for n, l in self.layers.items():
            l.mask, l.gmask = state["masks"][n], state["gmasks"][n]
        self.snapshot, self.history, self.epoch = state["snapshot"], state["history"], state["epoch"]
        log.info("resumed compression from %s after epoch %d", path, self.epoch)
        return True

    # the run ------------------------------------------------------------------------------------------------------
    def run(self) -> None:
        cfg = self.cfg
        self.keep = self.solve_keep(cfg.target)
        if self.data is None:
            if self.strategy.needs_data:
                raise FcompError(f"strategy '{self.strategy.name}' needs training data (--data)")
            if not self.strategy.initial_masks(self, self.keep) and self.keep < 1.0:
                self.update_masks(self.keep)
            return
        specs = self.strategy.plan(cfg.epochs, self.keep)
        opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        if not (cfg.resume and self.load(opt)):
            self.strategy.initial_masks(self, self.keep)
        sched_base = cfg.lr
        for e in progress_bar(range(self.epoch, len(specs)), f"compress {self.strategy.name}", total=len(specs)):
            for group in opt.param_groups:   # cosine decay over the whole plan
                group["lr"] = sched_base * 0.5 * (1 + math.cos(math.pi * e / max(1, len(specs))))
            spec = specs[e]
            stats = self.train_epoch(spec, opt)
            self.end_of_epoch(spec)
            self.epoch = e + 1
            self.set_quantize(True)
            stats.update(epoch=self.epoch, test_accuracy=self.evaluate(), ratio=round(total_ratio(self.costs()), 3),
                         quantized=spec.quantize, penalty=spec.penalty)
            self.history.append(stats)
            log.info("epoch %d/%d loss %.4f train acc %.3f test acc %s ratio %.1fx", self.epoch, len(specs),
                     stats["loss"], stats["train_accuracy"],
                     "-" if stats["test_accuracy"] is None else f"{stats['test_accuracy']:.4f}", stats["ratio"])
            self.save(opt)
            if cfg.stop_after_epoch is not None and self.epoch >= cfg.stop_after_epoch:
                raise KeyboardInterrupt(f"stopped after epoch {self.epoch} (stop_after_epoch)")


def maybe_init_distributed(device: str = "cpu") -> int:
    """Under torchrun (WORLD_SIZE > 1) join the process group: gloo on CPU, nccl on CUDA. Returns the rank."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not torch.distributed.is_available():
        return 0
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return torch.distributed.get_rank()


def weights_digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def compress(graph: Graph, plan: dict[str, LayerMapping], cfg: CompressionConfig,
             data: TrainData | None = None) -> CompressionResult:
    """Compress the IR's weighted layers; returns a new IR holding ternary weights (W = codes * scale) with
    `codes` (int8) and `scale` (per output channel) alongside, plus per-layer statistics."""
    from .torch_ir import ir_from_module

    strategy = get_strategy(cfg.strategy)
    ctx = Context(graph, plan, cfg, data, strategy)
    before = ctx.evaluate()
    ctx.run()
    ctx.set_quantize(True)
    extra, rows = {}, []
    costs = {c.name: c for c in ctx.costs()}
    for name, layer in ctx.layers.items():
        w = layer.module.weight.detach().cpu()
        mask = None if layer.mask is None else layer.mask.cpu()
        node = graph.node(name)
        row = {"name": name, "bits": layer.bits, "pe": layer.mapping.pe, "simd": layer.mapping.simd,
               "cost": costs[name].to_dict()}
        if layer.bits == 2:
            codes, alpha = ternarize(w, mask, cfg.per_channel)
            c = codes.numpy().astype(np.int8)
            extra[name] = {"codes": c if node.op == "conv" else np.ascontiguousarray(c.T),
                           "scale": alpha.numpy().astype(np.float32)}
            n = c.size
            row["ternary_shares"] = {"-1": float((c == -1).sum() / n), "0": float((c == 0).sum() / n),
                                     "+1": float((c == 1).sum() / n)}
            row["sparsity"] = float((c == 0).sum() / n)
        if layer.gmask is not None:
            per_pe = G.kept_groups_per_pe(layer.gmask, layer.mapping.pe)
            total = G.groups_per_pe(layer.mapping)
            row["kept_groups_per_pe"] = per_pe
            row["cycles_per_frame"] = layer.mapping.vectors * layer.mapping.pruned_cycles_per_vector(per_pe)
            row["cycles_per_frame_dense"] = layer.mapping.vectors * total
        else:
            row["cycles_per_frame"] = layer.mapping.cycles_per_frame()
            row["cycles_per_frame_dense"] = layer.mapping.cycles_per_frame()
        rows.append(row)
    after = ctx.evaluate()
    new_graph = ir_from_module(graph, ctx.model, extra)
    ratio = total_ratio(list(costs.values()))
    return CompressionResult(new_graph, strategy.name, data is None, cfg.target, ratio, ctx.keep, rows,
                             ctx.history, before, after)
