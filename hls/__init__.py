"""fcomp's own HLS C++ (the AXI-Stream wrapper and its testbench), package data `compiler._hls`."""
