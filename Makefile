# authex — the two Quickstart commands are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv deps demo test test-rust test-c check bench bench-quick fuzz fmt clean

$(STAMP): pyproject.toml setup.py src/authex/crypto/_spongent.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# C modules need a C compiler and OpenSSL 3's libcrypto headers (Debian: libssl-dev).
deps:
	@command -v cc >/dev/null || { echo "a C compiler is required (Debian: apt-get install build-essential)"; exit 1; }
	@test -f /usr/include/openssl/evp.h || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev; \
	  else echo "OpenSSL headers are required (Debian: sudo apt-get install libssl-dev)"; exit 1; fi; }

demo: $(STAMP) deps
	$(BIN)/python examples/smart-irrigation/demo.py

test: $(STAMP) deps test-rust test-c
	$(BIN)/python -m pytest -q --durations=25

# The C module SDK: its tests and vectors under AddressSanitizer and UBSan ("N passed, N failed").
test-c: deps
	$(MAKE) --no-print-directory -C sdks/c test PYTHON=$(PYTHON)

# The Rust module SDK checks itself against spec/vectors (needs cargo >= 1.88, crates.io).
test-rust:
	@command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
	cargo test --locked --quiet --manifest-path sdks/rust/Cargo.toml

check: $(STAMP)
	scripts/check

bench: $(STAMP)
	$(BIN)/pip install --quiet '.[bench]' || echo "matplotlib did not install: plots are skipped"
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

FUZZ_TIME ?= 60
FUZZ_HARNESSES := frames quote descriptor

# A longer fuzzing campaign with atheris (make test runs the bounded Hypothesis fuzz tests).
fuzz: $(STAMP)
	$(BIN)/pip install --quiet atheris || echo "atheris did not install: the harnesses skip (docs/fuzzing.md)"
	mkdir -p fuzz/crashes $(addprefix fuzz/corpus/,$(FUZZ_HARNESSES))
	for h in $(FUZZ_HARNESSES); do \
	  $(BIN)/python fuzz/fuzz_$$h.py -max_total_time=$(FUZZ_TIME) \
	    -artifact_prefix=fuzz/crashes/$$h- fuzz/corpus/$$h || exit 1; \
	done
	AUTHEX_FUZZ_SCALE=20 $(BIN)/python -m pytest -q tests/fuzz

fmt: $(STAMP)
	$(BIN)/ruff format src tests examples bench fuzz
	$(BIN)/ruff check --fix src tests examples bench fuzz

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	$(MAKE) --no-print-directory -C sdks/c clean
