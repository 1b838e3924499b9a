"""Adder-only PE-array RTL (rtl_sim/): generator, golden models, cycle model, simulation and synthesis helpers."""

from .cycles import compiler_cycles_per_vector, steady_cycles_per_vector, stream_timing
from .golden import golden, golden_hw
from .layer import RtlFormat, RtlLayer, build_from_arrays, build_layer, csd, write_layer

__all__ = ["RtlFormat", "RtlLayer", "build_layer", "build_from_arrays", "write_layer", "csd", "golden",
           "golden_hw", "stream_timing", "steady_cycles_per_vector", "compiler_cycles_per_vector"]
