# `make demo` and `make test` are the two commands of the README; both set up .venv/ first (idempotent).
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow checkpoints

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet torch==2.13.0
	$(PYTHON) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/codila demo

test: setup
	$(PYTHON) -m pytest -q

test-slow: setup
	$(PYTHON) -m pytest -q -m slow

# Retrain every shipped model from scratch (about 2.5 hours on a 2-core laptop CPU); runs/ keeps resumable state.
ARS := ar-b1 ar-b2 ar-b4 ar-b8 ar-b4-top1 ar-b4-noframe
checkpoints: setup
	$(VENV)/bin/codila train dlm --out runs/dlm --steps 2400
	for b in 1 2 4 8; do $(VENV)/bin/codila train ar --dlm runs/dlm/checkpoint --out runs/ar-b$$b --block-size $$b; done
	$(VENV)/bin/codila train ar --dlm runs/dlm/checkpoint --out runs/ar-b4-top1 --block-size 4 --conditioning top1
	$(VENV)/bin/codila train ar --dlm runs/dlm/checkpoint --out runs/ar-b4-noframe --block-size 4 --no-frame
	for name in dlm $(ARS); do $(VENV)/bin/codila export runs/$$name/checkpoint checkpoints/$$name; done
	$(VENV)/bin/codila demo --record
