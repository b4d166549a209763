# Two entry points (see README.md): `make book` and `make test`. Everything runs in ./.venv.
VENV ?= .venv
PY := $(VENV)/bin/python
JB := $(VENV)/bin/jupyter-book

.PHONY: book test unit nbval browser store-notebooks clean

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

book/_vendor/mathjax/tex-mml-chtml.js:
	bash scripts/vendor_js.sh

# A clean build that executes every notebook and fails on any warning.
book: $(VENV)/.installed book/_vendor/mathjax/tex-mml-chtml.js
	rm -rf _build
	$(JB) build . -W -n --keep-going
	@echo
	@echo "Book built. Open _build/html/index.html in a browser, or serve it:"
	@echo "  $(PY) -m http.server 8000 --bind 127.0.0.1 -d _build/html   # then http://127.0.0.1:8000"

# Unit tests, strict nbval over the stored notebooks, and the real-browser check of the built site.
test: book
	$(PY) -m pytest

unit: $(VENV)/.installed
	$(PY) -m pytest tests -m "not browser"

# For authors: re-execute the notebooks in place (default plotly renderer) after changing them.
store-notebooks: $(VENV)/.installed
	$(PY) scripts/sync_setup_cells.py
	$(VENV)/bin/jupyter execute --inplace book/*.ipynb

clean:
	rm -rf _build book/_vendor
