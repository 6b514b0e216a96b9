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

# Retrain every shipped model from scratch, as the shipped ones were made (about 5 hours on a 2-core laptop CPU):
# stage 1 trains the DLM and the ARs on it; stage 2 continues the DLM (warm start, fresh schedule) and fine-tunes
# each AR on the improved DLM (the shipped stage 2 started from the float16 exports in checkpoints/, as its
# manifests say). runs/ keeps resumable state (add --resume to a command that was interrupted).
ARS := ar-b1 ar-b2 ar-b4 ar-b8 ar-b4-top1 ar-b4-noframe
CODILA := $(VENV)/bin/codila
checkpoints: setup
	$(CODILA) train dlm --out runs/dlm --steps 2400
	for b in 1 2 4 8; do $(CODILA) train ar --dlm runs/dlm/checkpoint --out runs/ar-b$$b --block-size $$b; done
	$(CODILA) train ar --dlm runs/dlm/checkpoint --out runs/ar-b4-top1 --block-size 4 --conditioning top1
	$(CODILA) train ar --dlm runs/dlm/checkpoint --out runs/ar-b4-noframe --block-size 4 --no-frame
	$(CODILA) train dlm --out runs/dlm2 --init runs/dlm/checkpoint --steps 3600 --lr 7e-4 --seed 1
	for b in 1 2 4 8; do $(CODILA) train ar --dlm runs/dlm2/checkpoint --out runs/ar-b$$b-2 --block-size $$b \
		--init runs/ar-b$$b/checkpoint $(AR_STAGE2); done
	$(CODILA) train ar --dlm runs/dlm2/checkpoint --out runs/ar-b4-top1-2 --block-size 4 --conditioning top1 \
		--init runs/ar-b4-top1/checkpoint $(AR_STAGE2)
	$(CODILA) train ar --dlm runs/dlm2/checkpoint --out runs/ar-b4-noframe-2 --block-size 4 --no-frame \
		--init runs/ar-b4-noframe/checkpoint $(AR_STAGE2)
	$(CODILA) export runs/dlm2/checkpoint checkpoints/dlm
	for name in $(ARS); do $(CODILA) export runs/$$name-2/checkpoint checkpoints/$$name; done
	$(CODILA) demo --record
AR_STAGE2 := --steps 700 --lr 5e-4 --seed 1
