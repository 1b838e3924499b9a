"""Resource limits: stop a build early, before any compiling, when the model is predicted to need more memory or
more C-simulation time than the user allows.

hls4ml's C simulation is bit-accurate ap_fixed arithmetic in software: its run time grows with the model's MACs
and its memory with the weights. Both predictions are linear models measured on this project's zoo (the constants
below, with the runs that gave them); they are deliberately coarse, they only have to catch the order-of-magnitude
mistakes (a 100-GMAC model with 1,000 check inputs) before an hour of g++ and simulation is spent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import FcompError

# C-sim speed, ap_fixed<16> products per second on one core of this machine kind: resnet18 (1.81 GMAC) 20.3 s per
# input, digits_resnet (3.05 MMAC) 0.035 s per input, both ~8.8e7 MAC/s (report.json csim_check timings).
CSIM_MACS_PER_S = 8.8e7
# g++ of the hls4ml project: 6-12 s for every zoo model (weights are read from text files at run time, so the
# compile hardly grows with the weights); the hls4ml write grows with them: resnet18 (11.7 M params) 10.5 s.
CSIM_COMPILE_S = 15.0
WRITE_S_PER_PARAM = 1e-6
# Peak memory: the Python stack (torch, onnxruntime, hls4ml) ~1.5 GB, plus per weight the copies held at once
# (ONNX float, IR float64/float32, torch parameter + Adam state + mask, hls4ml arrays and text): ~80 bytes.
BASE_BYTES = 1.5e9
BYTES_PER_PARAM = 80


@dataclass(frozen=True)
class Prediction:
    memory_gb: float
    csim_minutes: float

    def to_dict(self) -> dict:
        return {"memory_gb": round(self.memory_gb, 2), "csim_minutes": round(self.csim_minutes, 2)}


def predict(params: int, macs: int, n_check: int) -> Prediction:
    mem = BASE_BYTES + BYTES_PER_PARAM * params
    seconds = CSIM_COMPILE_S + WRITE_S_PER_PARAM * params + n_check * macs / CSIM_MACS_PER_S
    return Prediction(mem / 1e9, seconds / 60)


def machine_memory_gb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return None


def check(params: int, macs: int, n_check: int, max_memory_gb: float | None, max_csim_minutes: float | None
          ) -> Prediction:
    """Raise FcompError (exit 2) naming the prediction, the limit and what to change when a limit is exceeded."""
    p = predict(params, macs, n_check)
    if max_memory_gb is None:
        total = machine_memory_gb()
        max_memory_gb = 0.8 * total if total else None
    if max_memory_gb is not None and p.memory_gb > max_memory_gb:
        raise FcompError(f"this model ({params:,} parameters) is predicted to need {p.memory_gb:.1f} GB of memory, "
                         f"above the limit of {max_memory_gb:.1f} GB; raise --max-memory-gb or use a larger machine")
    if max_csim_minutes is not None and p.csim_minutes > max_csim_minutes:
        per_input = macs / CSIM_MACS_PER_S / 60
        raise FcompError(f"the C simulation is predicted to take {p.csim_minutes:.0f} min ({macs:,} MACs per input, "
                         f"~{per_input:.1f} min each, {n_check} check inputs), above the limit of "
                         f"{max_csim_minutes:g} min; lower --check-inputs or raise --max-csim-minutes")
    return p
