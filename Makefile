# The usual commands. Each target installs what it needs into .venv first, as ./run-tests does
# (scripts/ensure-venv), so every one works from a fresh clone. ARGS is passed on, e.g.
#   make test-fast ARGS="-x tests/api"

VENV := .venv
BIN := $(VENV)/bin
# the install is repeated when what it reads has changed
INSTALLED := $(VENV)/.installed

.PHONY: serve test test-fast lint bench

$(INSTALLED): pyproject.toml constraints.txt scripts/ensure-venv
	scripts/ensure-venv
	touch $@

# the API on http://127.0.0.1:9292, on ./data/openims.db with the demo catalog, no authentication
serve: $(INSTALLED)
	$(BIN)/openims serve --demo --no-auth $(ARGS)

# every test: ruff, mypy, the suite on SQLite and PostgreSQL (started if it is down)
test:
	./run-tests $(ARGS)

# lint, and the suite on SQLite only, without the tests marked slow; needs no PostgreSQL
test-fast: lint
	$(BIN)/pytest -m "not postgres and not slow" $(ARGS)

# ruff, ruff format, mypy and the import-layer contracts
lint: $(INSTALLED)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

# the benchmarks (docs/benchmarks.md); the report goes to benchmarks/results/report.md, e.g.
#   make bench ARGS="--images 100000 --backend sqlite --workers 1 --duration 5"
bench: $(INSTALLED)
	$(BIN)/python -m benchmarks.run $(ARGS)
