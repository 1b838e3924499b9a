"""What runs beside the accelerator, on the board or its simulation: the word layout of its AXI-Stream frames
(`wordlayout`), the Verilator model of fcomp_accel (`simulator`) and the driver (`driver`). These modules import
numpy and the standard library only: the handoff bundle ships them as they are, in `driver/`."""
