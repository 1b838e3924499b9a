"""Compression: PE-wise structured pruning + ternarization with WPC.

Compression trains a PyTorch model built from the IR (`torch_ir`), writes the result back into the IR and
exports `model.compressed.onnx` (`export_onnx`), where ternary codes and per-channel scales stay visible.
"""
