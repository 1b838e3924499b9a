// Verilator C++ testbench of fcomp_accel (compiler/rtl/accel_sim.py builds and runs it).
// Streams AXI words from a stimulus file into s_axis (always valid), takes m_axis words with a seeded random
// tready (back-pressure), and writes every output word with its cycle. Stops when the expected number of output
// words arrived, or reports a deadlock when no beat moved on either side for +idle cycles.
//   stim file: "<n words> <n expected output words>" then one line per word: "<hex> <tlast> <first-of-frame>"
//   out file:  "i <cycle>" per accepted first word of a frame, "o <cycle> <hex> <tlast>" per output word,
//              "end <cycles> <err_short> <err_long> done|deadlock|timeout"
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include "Vfcomp_accel.h"
#include "verilated.h"
#ifdef FCOMP_VCD
#include "verilated_vcd_c.h"
#endif

static const char *arg(int argc, char **argv, const char *key, const char *dflt) {
    size_t n = strlen(key);
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '+' && strncmp(argv[i] + 1, key, n) == 0 && argv[i][1 + n] == '=') return argv[i] + 2 + n;
    return dflt;
}

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    const char *stim_path = arg(argc, argv, "stim", nullptr), *out_path = arg(argc, argv, "out", nullptr);
    if (!stim_path || !out_path) { fprintf(stderr, "usage: +stim=FILE +out=FILE [+ready=P] [+seed=N] [+idle=N]\n"); return 2; }
    double ready_p = atof(arg(argc, argv, "ready", "1.0"));
    uint64_t seed = strtoull(arg(argc, argv, "seed", "1"), nullptr, 10) * 2654435761ull + 12345;
    long idle_max = atol(arg(argc, argv, "idle", "100000"));
    long max_cycles = atol(arg(argc, argv, "max_cycles", "2000000000"));
    FILE *f = fopen(stim_path, "r");
    if (!f) { perror(stim_path); return 2; }
    long n_in = 0, n_out = 0;
    if (fscanf(f, "%ld %ld", &n_in, &n_out) != 2) { fprintf(stderr, "bad stimulus header\n"); return 2; }
    std::vector<uint64_t> words(n_in);
    std::vector<int> last(n_in), first(n_in);
    for (long i = 0; i < n_in; i++) {
        unsigned long long w; int l, fr;
        if (fscanf(f, "%llx %d %d", &w, &l, &fr) != 3) { fprintf(stderr, "bad stimulus line %ld\n", i); return 2; }
        words[i] = w; last[i] = l; first[i] = fr;
    }
    fclose(f);
    FILE *o = fopen(out_path, "w");
    if (!o) { perror(out_path); return 2; }

    Vfcomp_accel *top = new Vfcomp_accel;
#ifdef FCOMP_VCD
    Verilated::traceEverOn(true);
    VerilatedVcdC *vcd = nullptr;
    const char *vcd_path = arg(argc, argv, "vcd", nullptr);
    if (vcd_path) { vcd = new VerilatedVcdC; top->trace(vcd, 99); vcd->open(vcd_path); }
#endif
    uint64_t t = 0;
    auto tick = [&]() {
        top->clk = 0; top->eval();
#ifdef FCOMP_VCD
        if (vcd) vcd->dump(2 * t);
#endif
        top->clk = 1; top->eval();
#ifdef FCOMP_VCD
        if (vcd) vcd->dump(2 * t + 1);
#endif
        t++;
    };
    top->rst = 1; top->s_axis_tvalid = 0; top->m_axis_tready = 0;
    for (int i = 0; i < 4; i++) tick();
    top->rst = 0;
    long idx = 0, got = 0, idle = 0, cyc = 0;
    const char *status = "done";
    while (got < n_out) {
        top->s_axis_tvalid = idx < n_in;
        top->s_axis_tdata = idx < n_in ? words[idx] : 0;
        top->s_axis_tlast = idx < n_in ? last[idx] : 0;
        seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
        top->m_axis_tready = ((seed >> 11) * (1.0 / 9007199254740992.0)) < ready_p;
        top->clk = 0; top->eval();
        bool in_fire = top->s_axis_tvalid && top->s_axis_tready;
        bool out_fire = top->m_axis_tvalid && top->m_axis_tready;
        if (in_fire && first[idx]) fprintf(o, "i %ld\n", cyc);
        if (out_fire) { fprintf(o, "o %ld %llx %d\n", cyc, (unsigned long long)top->m_axis_tdata, (int)top->m_axis_tlast); got++; }
        tick();
        if (in_fire) idx++;
        idle = (in_fire || out_fire) ? 0 : idle + 1;
        cyc++;
        if (idle > idle_max) { status = "deadlock"; break; }
        if (cyc > max_cycles) { status = "timeout"; break; }
    }
    fprintf(o, "end %ld %d %d %s\n", cyc, (int)top->err_short, (int)top->err_long, status);
    fclose(o);
    top->final();
#ifdef FCOMP_VCD
    if (vcd) vcd->close();
#endif
    delete top;
    return 0;
}
