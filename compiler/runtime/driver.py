#!/usr/bin/env python3
"""fcomp board driver: runs the accelerator of an fcomp bundle from Python (a small library and a CLI).

    python3 driver.py --mode execute                     # the reference input; checks output_reference.npy
    python3 driver.py --mode execute --input X.npy --output Y.npy
    python3 driver.py --mode throughput --frames 1000    # frames/s and latency, printed and as JSON
    python3 driver.py --mode validate --input X.npy --labels y.npy
    ... --transport pynq (default on a board with PYNQ) | dev (/dev/mem + u-dma-buf, no PYNQ) | sim (Verilator)

Input is float in the model's layout (n, C, H, W) or (n, k), as ONNX Runtime takes it; it is quantized to the
build's input type, packed into AXI words (`wordlayout`, the one definition of the layout that the compiler, the
RTL testbench and the HLS C testbench use), streamed through the accelerator one frame per DMA transfer (tlast
ends every frame; a wrong length is reported, never shifted into the next frame), unpacked and dequantized with
the build's output type. `driver.json` beside this file describes the build (formats, shapes, clock, names of
the block design's cells).

A design whose weights live in UltraRAM loads them at run time: rtl/fcomp_accel/weights.hex is the first transfer
after the accelerator's reset (pynq sends it after the overlay download, dev with --load-weights, sim always).

Transports (one interface, `Transport.run(words) -> Batch`):
  pynq  PYNQ Overlay + AXI DMA (simple mode) + contiguous buffers; the err GPIO is read after every batch.
  dev   no PYNQ: the AXI DMA registers (PG021, simple mode) through /dev/mem and a u-dma-buf buffer.
  sim   the bundle's own RTL (rtl/fcomp_accel, the same sources and ROMs the bitstream is built from) in
        Verilator with its C++ testbench: the same packing and framing code runs without a board, and the
        throughput figures are simulated cycles at the build's clock.
Only `sim` is exercised by fcomp's CI; `pynq` and `dev` are written against PYNQ 2.7+/3.0 and PG021 and have not
run on a board yet.

Exit status: 0 done (and, against the reference, every value equal), 1 a run failed or differs from the
reference, 2 bad input or usage. This file imports numpy and the standard library only.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:        # inside the compiler: compiler.runtime.driver
    from . import simulator
    from .wordlayout import (LayoutError, StreamFormat, dequantize, framing_error, from_stream_order, pack,
                             quantize, to_stream_order, unpack)
except ImportError:     # in the bundle: driver/driver.py beside wordlayout.py and simulator.py
    import simulator  # type: ignore[no-redef]
    from wordlayout import (LayoutError, StreamFormat, dequantize, framing_error,  # type: ignore
                            from_stream_order, pack, quantize, to_stream_order, unpack)

CONFIG = "driver.json"
HERE = Path(__file__).resolve().parent


class DriverError(Exception):
    """A run that failed (timeout, DMA error, accelerator error flag, deadlock in simulation)."""


class UsageError(Exception):
    """Bad input files or options (exit 2)."""


# ---------------------------------------------------------------------------------------------------- config
@dataclass
class Config:
    design: str                      # fcomp_accel (RTL) | fcomp_top_axi (hls4ml IP)
    fin: StreamFormat
    fout: StreamFormat
    input_shape: list[int]
    output_shape: list[int]
    clock_mhz: float
    root: Path                       # the folder of driver.json
    raw: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> "Config":
        path = Path(path) if path is not None else HERE / CONFIG
        if path.is_dir():
            path = path / CONFIG
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            return cls(d["design"], StreamFormat.from_dict(d["input"]), StreamFormat.from_dict(d["output"]),
                       [int(s) for s in d["input_shape"]], [int(s) for s in d["output_shape"]],
                       float(d["clock_mhz"]), path.parent, d)
        except FileNotFoundError:
            raise UsageError(f"{path}: no driver.json (the driver runs from a bundle's driver/ folder)") from None
        except (ValueError, KeyError, TypeError, LayoutError) as e:
            raise UsageError(f"{path}: not a valid fcomp driver.json ({e})") from None

    def path(self, key: str) -> Path | None:
        rel = self.raw.get(key)
        return None if rel is None else (self.root / rel)

    def weights(self) -> np.ndarray | None:
        """The run-time weight load transfer (rtl/fcomp_accel/weights.hex, one input word per line), or None when
        the design keeps every weight in ROMs. It must be the first transfer after the accelerator's reset."""
        rtl = self.path("rtl_dir")
        f = None if rtl is None else rtl / "fcomp_accel" / simulator.WEIGHTS_FILE
        if f is None or not f.is_file():
            return None
        return np.array([int(w, 16) for w in f.read_text().split()], dtype=np.uint64)


# ------------------------------------------------------------------------------------------------ transports
@dataclass
class Batch:
    words: np.ndarray                # (n, output words) uint64
    seconds: float                   # wall time of the transfers (sim: simulated time at the build's clock)
    latency_s: list[float]           # per frame: first input word taken -> last output word (where measured)
    cycles_per_frame: float | None = None    # sim only: steady-state cycles between frames
    cycles: int | None = None                # sim only: cycles of the whole batch
    wall_s: float | None = None


class Transport:
    """Moves frames of AXI words through the accelerator: run((n, in words)) -> Batch of (n, out words)."""

    name = "?"
    simulated = False

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def run(self, words: np.ndarray) -> Batch:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SimTransport(Transport):
    """The bundle's fcomp_accel RTL in Verilator (compiled once; the cache is shared with fcomp's own runs)."""

    name = "sim"
    simulated = True

    def __init__(self, cfg: Config, work: Path | None = None, ready: float = 1.0, jobs: int = 2):
        super().__init__(cfg)
        if cfg.design != "fcomp_accel":
            raise UsageError(f"--transport sim runs the RTL design fcomp_accel; this bundle's design is "
                             f"{cfg.design} (no RTL to simulate)")
        rtl = cfg.path("rtl_dir")
        if rtl is None or not (rtl / "fcomp_accel" / "fcomp_accel.sv").is_file():
            raise UsageError(f"--transport sim: the bundle's RTL is missing ({rtl}/fcomp_accel/fcomp_accel.sv)")
        self.accel = rtl / "fcomp_accel"
        self.work = Path(work) if work else Path(os.environ.get("FCOMP_SIM_WORK") or
                                                    Path.cwd() / "fcomp_sim_work")
        self.ready = ready
        self.loads_weights = (self.accel / simulator.WEIGHTS_FILE).is_file()
        sources = sorted((rtl / "src").glob("*.sv")) + [self.accel / "fcomp_accel.sv"]
        _log("sim: fcomp_accel in Verilator (compiled once and cached by content; a first build takes minutes)")
        try:
            self.exe, self.cached, self.build_s = simulator.build(
                sources, rtl / "src", self.accel / "tb" / "tb_accel.cpp", self.work / "build.log", jobs=jobs)
        except simulator.SimError as e:
            raise DriverError(str(e)) from None
        self.runs = 0

    def run(self, words: np.ndarray) -> Batch:
        n, out_words = len(words), self.cfg.fout.words
        self.runs += 1
        ii = self.cfg.raw.get("cycles_per_frame_predicted") or 100_000
        try:
            r = simulator.run(self.exe, self.accel, self.work / f"run_{self.runs}", words, n * out_words,
                              self.ready, idle=4 * int(ii) + 20_000)
        except simulator.SimError as e:
            raise DriverError(str(e)) from None
        if r.status != "done":
            raise DriverError(f"sim: {r.status} after {r.cycles} cycles with {len(r.words)} of {n * out_words} "
                              "output words")
        _check_flags(r.err_short, r.err_long)
        _check_framing(r.lasts, out_words)
        clk = self.cfg.clock_mhz * 1e6
        lat = [(o - i) / clk for i, o in zip(r.in_cycles, r.out_cycles)]
        # from the first frame word taken: a run-time weight load streamed before it is not frame time
        cycles = r.cycles - (r.in_cycles[0] if r.in_cycles and self.loads_weights else 0)
        return Batch(np.array(r.words, dtype=np.uint64).reshape(n, out_words), cycles / clk, lat,
                     simulator.steady_ii(r.out_cycles), cycles, r.wall_s)


class PynqTransport(Transport):
    """PYNQ: the bitstream (with its .hwh beside it), the AXI DMA in simple mode, one transfer per frame."""

    name = "pynq"

    def __init__(self, cfg: Config, bitfile: Path | None = None, timeout_s: float = 10.0):
        super().__init__(cfg)
        try:
            from pynq import Overlay, allocate
        except ImportError:
            raise UsageError("--transport pynq needs the pynq package (a PYNQ image); use --transport dev on a "
                             "board without it") from None
        bit = (Path(bitfile) if bitfile else cfg.root / cfg.raw.get("bundle_root", "..") / cfg.raw["bitfile"]).resolve()
        if bit is None or not bit.is_file():
            raise UsageError(f"bitstream {bit} not found: run the bundle's run_all.sh first, or pass --bitfile")
        if not bit.with_suffix(".hwh").is_file():
            raise UsageError(f"{bit.with_suffix('.hwh')} not found: PYNQ needs the block design's .hwh beside "
                             "the .bit (build_vivado.tcl writes both)")
        self.overlay = Overlay(str(bit))
        self.dma = getattr(self.overlay, cfg.raw.get("dma", "axi_dma_0"))
        self.gpio = getattr(self.overlay, cfg.raw.get("err_gpio") or "_none_", None)
        if cfg.design == "fcomp_top_axi":      # the hls4ml IP: ap_start with auto_restart, once
            ip = getattr(self.overlay, cfg.raw.get("control_ip", "fcomp_top_axi_0"))
            ip.write(0x00, 0x81)
        self.allocate = allocate
        self.timeout_s = timeout_s
        w = cfg.weights()
        if w is not None:       # the overlay download reset the accelerator: its weights go first
            _log(f"pynq: loading {len(w)} weight words")
            buf = allocate(shape=(len(w),), dtype=np.uint64)
            try:
                buf[:] = w
                if hasattr(buf, "flush"):
                    buf.flush()
                self.dma.sendchannel.transfer(buf)
                self._wait(self.dma.sendchannel, "weight load", time.perf_counter() + self.timeout_s)
            finally:
                if hasattr(buf, "freebuffer"):
                    buf.freebuffer()

    def _wait(self, ch, what: str, deadline: float) -> None:
        while not ch.idle:
            if time.perf_counter() > deadline:
                raise DriverError(f"timeout: DMA {what} did not finish in {self.timeout_s} s "
                                  f"(status {ch._mmio.read(ch._offset + 4):#x})")
            if getattr(ch, "error", False):
                raise DriverError(f"DMA {what} reported an error (status {ch._mmio.read(ch._offset + 4):#x})")

    def run(self, words: np.ndarray) -> Batch:
        """One DMA transfer per frame (tlast ends each), through two single-frame buffers per direction (works
        with every PYNQ's transfer(buffer)): frame i+1 streams in while frame i streams out."""
        n, wi, wo = len(words), self.cfg.fin.words, self.cfg.fout.words
        ib = [self.allocate(shape=(wi,), dtype=np.uint64) for _ in range(2)]
        ob = [self.allocate(shape=(wo,), dtype=np.uint64) for _ in range(2)]
        send, recv = self.dma.sendchannel, self.dma.recvchannel
        out = np.zeros((n, wo), dtype=np.uint64)
        lat = []

        def post_send(i: int) -> None:
            buf = ib[i % 2]
            buf[:] = words[i]
            if hasattr(buf, "flush"):
                buf.flush()
            send.transfer(buf)

        try:
            t0 = time.perf_counter()
            starts = [t0]
            recv.transfer(ob[0])
            post_send(0)
            for i in range(n):
                deadline = time.perf_counter() + self.timeout_s
                self._wait(send, f"input frame {i}", deadline)
                if i + 1 < n:
                    starts.append(time.perf_counter())
                    post_send(i + 1)
                self._wait(recv, f"output frame {i}", deadline)
                lat.append(time.perf_counter() - starts[i])
                buf = ob[i % 2]
                if hasattr(buf, "invalidate"):
                    buf.invalidate()
                out[i] = np.asarray(buf, dtype=np.uint64)
                if i + 1 < n:
                    recv.transfer(ob[(i + 1) % 2])
            seconds = time.perf_counter() - t0
        finally:
            for b in (*ib, *ob):
                if hasattr(b, "freebuffer"):
                    b.freebuffer()
        if self.gpio is not None:
            flags = int(self.gpio.channel1.read())
            _check_flags(bool(flags & 1), bool(flags & 2))
        return Batch(out, seconds, lat)


class DevTransport(Transport):
    """No PYNQ: the AXI DMA's registers (PG021, simple mode) mapped from /dev/mem, frames in a physically
    contiguous u-dma-buf buffer (/dev/udmabuf0). --dma-base gives the DMA's address (address_map.txt)."""

    name = "dev"
    MM2S_CR, MM2S_SR, MM2S_SA, MM2S_SA_MSB, MM2S_LEN = 0x00, 0x04, 0x18, 0x1C, 0x28
    S2MM_CR, S2MM_SR, S2MM_DA, S2MM_DA_MSB, S2MM_LEN = 0x30, 0x34, 0x48, 0x4C, 0x58
    IDLE, ERR, IOC = 1 << 1, 0x70, 1 << 12

    def __init__(self, cfg: Config, dma_base: int | None, udmabuf: str = "udmabuf0", timeout_s: float = 10.0,
                 load_weights: bool = False):
        super().__init__(cfg)
        if dma_base is None:
            raise UsageError("--transport dev needs --dma-base (axi_dma_0 in the bundle's reports/address_map.txt)")
        sysfs = Path("/sys/class/u-dma-buf") / udmabuf
        try:
            self.phys = int((sysfs / "phys_addr").read_text().strip(), 16)
            self.size = int((sysfs / "size").read_text().strip())
            self.buf_fd = os.open(f"/dev/{udmabuf}", os.O_RDWR | os.O_SYNC)
            self.mem_fd = os.open("/dev/mem", os.O_RDWR | os.O_SYNC)
        except OSError as e:
            raise UsageError(f"--transport dev: {e} (needs root, /dev/mem and the u-dma-buf module with "
                             f"{udmabuf})") from None
        self.buf = mmap.mmap(self.buf_fd, self.size)
        page = mmap.PAGESIZE
        self.regs = mmap.mmap(self.mem_fd, page, offset=dma_base & ~(page - 1))
        self.reg0 = dma_base & (page - 1)
        self.timeout_s = timeout_s
        for cr in (self.MM2S_CR, self.S2MM_CR):      # reset, then run
            self._w(cr, 1 << 2)
        deadline = time.perf_counter() + 1.0
        while self._r(self.MM2S_CR) & (1 << 2) and time.perf_counter() < deadline:
            pass
        for cr in (self.MM2S_CR, self.S2MM_CR):
            self._w(cr, 1)
        w = cfg.weights()
        if w is not None and not load_weights:
            _log(f"dev: this design loads {len(w)} weight words at run time; frames sent before them are taken as "
                 "weights. Pass --load-weights once after programming the bitstream")
        if w is not None and load_weights:    # once after programming the bitstream (--load-weights)
            nb = len(w) * 8
            if nb > self.size:
                raise UsageError(f"the weight load needs {nb} bytes; the u-dma-buf buffer has {self.size}")
            self.buf[:nb] = np.ascontiguousarray(w, dtype="<u8").tobytes()
            self._start(self.MM2S_SA, self.MM2S_SA_MSB, self.MM2S_LEN, self.phys, nb)
            self._wait(self.MM2S_SR, "weight load", time.perf_counter() + self.timeout_s)

    def _r(self, off: int) -> int:
        return int.from_bytes(self.regs[self.reg0 + off:self.reg0 + off + 4], "little")

    def _w(self, off: int, v: int) -> None:
        self.regs[self.reg0 + off:self.reg0 + off + 4] = int(v & 0xFFFF_FFFF).to_bytes(4, "little")

    def _start(self, addr_reg: int, msb_reg: int, len_reg: int, addr: int, nbytes: int) -> None:
        self._w(addr_reg, addr & 0xFFFF_FFFF)
        self._w(msb_reg, addr >> 32)
        self._w(len_reg, nbytes)              # writing the length starts the transfer

    def _wait(self, sr: int, what: str, deadline: float) -> None:
        while True:
            s = self._r(sr)
            if s & self.ERR:
                raise DriverError(f"DMA {what}: error (status {s:#x})")
            if s & self.IDLE:
                self._w(sr, self.IOC)
                return
            if time.perf_counter() > deadline:
                raise DriverError(f"timeout: DMA {what} did not finish in {self.timeout_s} s (status {s:#x})")

    def run(self, words: np.ndarray) -> Batch:
        n, wi, wo = len(words), self.cfg.fin.words, self.cfg.fout.words
        bi, bo = wi * 8, wo * 8
        if n * (bi + bo) > self.size:
            raise UsageError(f"{n} frames need {n * (bi + bo)} bytes; the u-dma-buf buffer has {self.size}")
        self.buf[:n * bi] = np.ascontiguousarray(words, dtype="<u8").tobytes()
        obase = n * bi
        lat = []
        t0 = time.perf_counter()
        for i in range(n):
            ts = time.perf_counter()
            deadline = ts + self.timeout_s
            self._start(self.S2MM_DA, self.S2MM_DA_MSB, self.S2MM_LEN, self.phys + obase + i * bo, bo)
            self._start(self.MM2S_SA, self.MM2S_SA_MSB, self.MM2S_LEN, self.phys + i * bi, bi)
            self._wait(self.MM2S_SR, f"input frame {i}", deadline)
            self._wait(self.S2MM_SR, f"output frame {i}", deadline)
            got = self._r(self.S2MM_LEN)
            if got != bo:
                raise DriverError(f"output frame {i}: {got} bytes before tlast, expected {bo}")
            lat.append(time.perf_counter() - ts)
        seconds = time.perf_counter() - t0
        out = np.frombuffer(self.buf[obase:obase + n * bo], dtype="<u8").astype(np.uint64).reshape(n, wo)
        return Batch(out, seconds, lat)

    def close(self) -> None:
        for m in (self.buf, self.regs):
            m.close()
        os.close(self.buf_fd)
        os.close(self.mem_fd)


def _check_flags(err_short: bool, err_long: bool) -> None:
    if err_short or err_long:
        raise DriverError("the accelerator flagged a frame of the wrong length: " +
                          ", ".join(w for w, f in (("err_short (tlast before the frame's last word)", err_short),
                                                   ("err_long (no tlast on the frame's last word)", err_long)) if f))


def _check_framing(lasts: list[int], words_per_frame: int) -> None:
    msg = framing_error(lasts, words_per_frame)
    if msg:
        raise DriverError(msg)


# ------------------------------------------------------------------------------------------------- the driver
class Accelerator:
    """Float in, float out: quantize, pack, run, unpack, dequantize with the build's fixed-point types."""

    def __init__(self, cfg: Config, transport: Transport):
        self.cfg, self.transport = cfg, transport
        self.last: Batch | None = None

    def quantize(self, x) -> np.ndarray:
        """Float batch in the model's layout -> integer frames (n, elements) in stream order."""
        try:
            return quantize(to_stream_order(np.asarray(x), self.cfg.input_shape), self.cfg.fin)
        except LayoutError as e:
            raise UsageError(str(e)) from None

    def execute_int(self, q: np.ndarray) -> np.ndarray:
        """Integer frames -> integer outputs (n, elements), both in stream order."""
        self.last = self.transport.run(pack(q, self.cfg.fin))
        try:
            return unpack(self.last.words, self.cfg.fout, extended=True)
        except LayoutError as e:
            raise DriverError(f"output: {e}") from None

    def execute(self, x) -> np.ndarray:
        """Float batch (n, C, H, W) / (n, k) -> float outputs in the model's output layout."""
        y = self.execute_int(self.quantize(x))
        return from_stream_order(dequantize(y, self.cfg.fout), self.cfg.output_shape)

    def throughput(self, x, frames: int) -> dict:
        q = self.quantize(x)
        q = np.concatenate([q] * (-(-frames // len(q))))[:frames]
        self.execute_int(q)
        b = self.last
        doc = {"transport": self.transport.name, "frames": frames, "simulated": self.transport.simulated,
               "seconds": b.seconds, "frames_per_s": frames / b.seconds if b.seconds > 0 else None,
               "latency_ms_min": 1e3 * min(b.latency_s) if b.latency_s else None,
               "latency_ms_mean": 1e3 * float(np.mean(b.latency_s)) if b.latency_s else None,
               "clock_mhz": self.cfg.clock_mhz}
        if self.transport.simulated:
            ii = b.cycles_per_frame
            doc.update(cycles=b.cycles, cycles_per_frame=ii,
                       cycles_per_frame_predicted=self.cfg.raw.get("cycles_per_frame_predicted"),
                       frames_per_s_steady=(self.cfg.clock_mhz * 1e6 / ii) if ii else None,
                       wall_s=b.wall_s,
                       note="simulated: Verilator cycles at the build's clock (no DMA or host overhead)")
        return doc


def open_transport(cfg: Config, args) -> Transport:
    kind = args.transport
    if kind == "auto":
        try:
            import pynq  # noqa: F401
            kind = "pynq"
        except ImportError:
            raise UsageError("no PYNQ here: choose --transport dev (a board without PYNQ) or --transport sim "
                             "(Verilator, no board)") from None
    if kind == "sim":
        return SimTransport(cfg, args.work, args.ready)
    if kind == "pynq":
        return PynqTransport(cfg, args.bitfile, args.timeout)
    if kind == "dev":
        return DevTransport(cfg, args.dma_base, args.udmabuf, args.timeout, args.load_weights)
    raise UsageError(f"unknown transport {kind}")


def load_npy(path: str | Path, what: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{what} {p}: no such file")
    try:
        a = np.load(p, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        raise UsageError(f"{what} {p}: not a readable .npy array ({e})") from None
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
        raise UsageError(f"{what} {p}: expected a numeric array, got {getattr(a, 'dtype', type(a))}")
    return a


def _log(msg: str) -> None:
    print(f"fcomp-driver: {msg}", file=sys.stderr, flush=True)


def _write_json(path: str | None, doc: dict) -> None:
    text = json.dumps(doc, indent=1, sort_keys=True)
    if path:
        Path(path).write_text(text + "\n", encoding="utf-8")
    print(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="driver.py", description="Run an fcomp accelerator (see the docstring).")
    ap.add_argument("--mode", choices=["execute", "throughput", "validate"], default="execute")
    ap.add_argument("--transport", choices=["auto", "pynq", "dev", "sim"], default="auto")
    ap.add_argument("--input", help="float .npy in the model's layout (default: input_reference.npy)")
    ap.add_argument("--output", help="execute: write the outputs here (.npy)")
    ap.add_argument("--labels", help="validate: integer class labels .npy (default: labels_reference.npy)")
    ap.add_argument("--frames", type=int, default=64, help="throughput: frames to run (default 64)")
    ap.add_argument("--json", help="write the result as JSON to this file too")
    ap.add_argument("--config", help=f"the bundle's {CONFIG} (default: beside driver.py)")
    ap.add_argument("--bitfile", help="pynq: the .bit (default: driver.json's, built by run_all.sh)")
    ap.add_argument("--dma-base", type=lambda s: int(s, 0), help="dev: the AXI DMA's base address")
    ap.add_argument("--udmabuf", default="udmabuf0", help="dev: the u-dma-buf device (default udmabuf0)")
    ap.add_argument("--load-weights", action="store_true",
                    help="dev: send the bundle's run-time weights (rtl/fcomp_accel/weights.hex) first; once after "
                         "programming the bitstream (pynq loads them itself after the overlay download)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per frame before a run is a hang")
    ap.add_argument("--work", help="sim: working folder (default ./fcomp_sim_work)")
    ap.add_argument("--ready", type=float, default=1.0, help="sim: probability the sink takes a word per cycle")
    args = ap.parse_args(argv)
    transport = None
    try:
        cfg = Config.load(args.config)
        if not args.input and cfg.path("input_reference") is None:
            raise UsageError("this bundle has no input_reference.npy: pass --input X.npy")
        x = load_npy(args.input, "input") if args.input else load_npy(cfg.path("input_reference"), "input")
        if args.mode == "throughput" and args.frames < 1:
            raise UsageError("--frames must be at least 1")
        try:       # a wrong shape or a NaN is a usage error before anything runs
            quantize(to_stream_order(x, cfg.input_shape), cfg.fin)
        except LayoutError as e:
            raise UsageError(f"input: {e}") from None
        acc = Accelerator(cfg, open_transport(cfg, args))
        transport = acc.transport
        if args.mode == "execute":
            y = acc.execute(x)
            doc = {"mode": "execute", "transport": transport.name, "frames": int(len(y)),
                   "seconds": acc.last.seconds, "simulated": transport.simulated}
            if args.output:
                np.save(args.output, y)
                doc["output"] = str(args.output)
            if not args.input:      # the reference input: its outputs must be the reference outputs, exactly
                ref = load_npy(cfg.path("output_reference"), "output reference")
                diff = int(np.sum(y.reshape(ref.shape) != ref)) if y.size == ref.size else y.size
                doc.update(reference="output_reference.npy", mismatches=diff, passed=diff == 0)
            _write_json(args.json, doc)
            return 0 if doc.get("passed", True) else 1
        if args.mode == "throughput":
            _write_json(args.json, {"mode": "throughput", **acc.throughput(x, args.frames)})
            return 0
        labels = load_npy(args.labels, "labels") if args.labels else (
            load_npy(cfg.path("labels_reference"), "labels") if cfg.raw.get("labels_reference") else None)
        if labels is None:
            raise UsageError("validate needs --labels (this bundle has no labels_reference.npy)")
        labels = labels.reshape(-1)
        if len(labels) != len(to_stream_order(x, cfg.input_shape)):
            raise UsageError(f"{len(labels)} labels for {len(to_stream_order(x, cfg.input_shape))} inputs")
        y = acc.execute(x).reshape(len(labels), -1)
        correct = int(np.sum(np.argmax(y, axis=1) == labels))
        _write_json(args.json, {"mode": "validate", "transport": transport.name, "frames": int(len(labels)),
                                "correct": correct, "accuracy": correct / len(labels)})
        return 0
    except UsageError as e:
        _log(f"error: {e}")
        return 2
    except LayoutError as e:
        _log(f"error: {e}")
        return 2
    except DriverError as e:
        _log(f"run failed: {e}")
        return 1
    except KeyboardInterrupt:
        _log("interrupted")
        return 130
    finally:
        if transport is not None:
            transport.close()


if __name__ == "__main__":
    sys.exit(main())
