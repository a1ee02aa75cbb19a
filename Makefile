# authex — the two Quickstart commands are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-rust check bench fmt clean

$(STAMP): pyproject.toml setup.py src/authex/crypto/_spongent.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/smart-irrigation/demo.py

test: $(STAMP) test-rust
	$(BIN)/python -m pytest -q

# The Rust module SDK checks itself against spec/vectors (needs cargo >= 1.88, crates.io).
test-rust:
	@command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
	cargo test --locked --quiet --manifest-path sdks/rust/Cargo.toml

check: $(STAMP)
	scripts/check

bench: $(STAMP)
	$(BIN)/python -m bench

fmt: $(STAMP)
	$(BIN)/ruff format src tests examples bench
	$(BIN)/ruff check --fix src tests examples bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
