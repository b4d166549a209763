# Two entry points (see README.md): `make book` and `make test`. Everything runs in ./.venv.
VENV ?= .venv
PY := $(VENV)/bin/python
JB := $(VENV)/bin/jupyter-book

.PHONY: book course test unit lint lab nbval browser store-notebooks clean gpu-check vendor

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# MathJax, plotly.js's partial bundle and axe-core from npm (scripts/vendor_js.sh says which and
# why); a no-op when the versions it vendored are still the ones it asks for.
vendor: $(VENV)/.installed
	PY=$(PY) bash scripts/vendor_js.sh

# The site, from the stored notebooks (they are executed once, by `make store-notebooks`), failing
# on any warning.
book: $(VENV)/.installed vendor
	rm -rf _build
	$(JB) build . -W -n --keep-going
	@echo
	@echo "Book built. Open _build/html/index.html in a browser, or serve it:"
	@echo "  $(PY) -m http.server 8000 --bind 127.0.0.1 -d _build/html   # then http://127.0.0.1:8000"

# The teacher's edition, from the same stored notebooks, into _build/course/ (offline; its README.md
# says what is where): student notebooks without the solutions, the instructor's notebooks with a
# rubric per exercise, a site without the solutions, reveal.js slides per chapter and the whole
# book as one PDF.
COURSE := _build/course
course: book
	rm -rf $(COURSE)
	$(PY) scripts/build_course.py $(COURSE)
	$(PY) scripts/course_slides.py $(COURSE)/slides
	$(PY) scripts/course_pdf.py $(COURSE)/attn-edu-book.pdf

# The kernel strict nbval runs the notebooks in: torch's generic (non-vectorised) CPU kernels and one
# OpenMP thread, which round differently from this machine's, so a stored output that depends on
# the CPU fails the tests here rather than on the next machine.
GENERIC_KERNEL := $(VENV)/share/jupyter/kernels/attn-edu-generic/kernel.json
$(GENERIC_KERNEL): $(VENV)/.installed
	$(PY) -m ipykernel install --prefix $(VENV) --name attn-edu-generic --display-name "attn_edu, generic CPU kernels" \
		--env ATEN_CPU_CAPABILITY default --env OMP_NUM_THREADS 1 >/dev/null

# Every test: the package, the site in Chromium, the chapters in a real JupyterLab and in a fresh
# Colab-like venv, and strict nbval, which re-executes every stored notebook in that kernel and
# compares its outputs. Two pytest-xdist workers, one PyTorch thread each, a file per worker at a
# time, the longest files first (conftest.py says why).
test: lint book course $(GENERIC_KERNEL)
	$(PY) -m pytest -n 2 --dist loadfile --nbval-kernel-name attn-edu-generic --durations=15

unit: $(VENV)/.installed
	$(PY) -m pytest tests -m "not browser and not fresh_env and not jupyterlab and not course"

# ruff and mypy on the package (their settings: pyproject.toml), and the chapters' code checked
# for errors only (pyflakes and syntax: undefined or unused names, f-strings without fields). Not
# F811 (a name redefined before use): an exercise's answer cell binds `name = ...` and its solution
# binds it again; the check reads it by name (attn_edu.book.exercise), which pyflakes cannot see.
lint: $(VENV)/.installed
	$(PY) -m ruff check attn_edu
	$(PY) -m ruff check --select F,E9 --ignore F811 book/*.ipynb
	$(PY) -m mypy

# Open the chapters in JupyterLab, with the project's venv as the kernel.
lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab --notebook-dir=book

# For authors: execute the notebooks and store them with their outputs, after changing a chapter or
# the package (NB=book/se.ipynb for one). The site, Jupyter, Colab and nbval all use what is stored.
store-notebooks: $(VENV)/.installed
	$(PY) scripts/sync_setup_cells.py
	$(PY) scripts/store_notebooks.py $(NB)
	$(PY) scripts/sync_references.py   # after: the reference list covers the links the outputs carry too

clean:
	rm -rf _build book/_vendor .vendor

# On a CUDA machine: the ten mechanisms and a lab training step in float32 and under autocast.
# Without a GPU it says so and succeeds.
gpu-check: $(VENV)/.installed
	$(PY) scripts/gpu_check.py
