# `make demo` and `make test` are the two commands of the README; both set up .venv/ first (idempotent).
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow checkpoints checkpoints-residual

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -c constraints.txt torch
	$(PYTHON) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/codila demo

test: setup
	$(PYTHON) -m pytest -q

test-slow: setup
	$(PYTHON) -m pytest -q -m slow

# Retrain every shipped model from scratch (about 8 hours on a 2-core laptop CPU); runs/ keeps resumable state.
# Stage 1: DLM and ARs on the stdlib alone, exported (float16) as stage 2 starts from them. Stage 2: the DLM continued on
# infilling gaps and more code (the source of installed packages), the ARs fine-tuned on it. Stage 3: the same recipe
# continued from stage 2's exports (DLM 2800 steps); stage 4: again from stage 3's (DLM 2400 steps); stage 5: the ARs
# alone, 4x longer, on stage 4's exported DLM (the one shipped). The shipped DLM is stage 4's; the shipped ARs are
# stage 6's (`checkpoints-residual` below, which `checkpoints` runs last).
ARS := ar-b1 ar-b2 ar-b4 ar-b8 ar-b4-top1 ar-b4-noframe
EXTRA := torch,scipy,sympy,numpy,matplotlib,networkx
STAGE2 := --gap-fraction 0.5 --extra-packages $(EXTRA) --extra-share 0.5
# Fine-tune every AR on the DLM checkpoint $(1) into runs/<name>-$(2), warm-started from the exports in $(3), seed $(4),
# $(5) steps (ar-b1 and ar-b4-noframe, which only the analyses use: half as many).
define FINETUNE_ARS
	for b in 2 4 8; do $(VENV)/bin/codila train ar --dlm $(1) --out runs/ar-b$$b-$(2) --block-size $$b \
		--init $(3)/ar-b$$b --steps $(5) --lr 5e-4 --seed $(4) $(STAGE2); done
	$(VENV)/bin/codila train ar --dlm $(1) --out runs/ar-b4-top1-$(2) --block-size 4 --conditioning top1 \
		--init $(3)/ar-b4-top1 --steps $(5) --lr 5e-4 --seed $(4) $(STAGE2)
	$(VENV)/bin/codila train ar --dlm $(1) --out runs/ar-b1-$(2) --block-size 1 \
		--init $(3)/ar-b1 --steps $$(($(5) / 2)) --lr 5e-4 --seed $(4) $(STAGE2)
	$(VENV)/bin/codila train ar --dlm $(1) --out runs/ar-b4-noframe-$(2) --block-size 4 --no-frame \
		--init $(3)/ar-b4-noframe --steps $$(($(5) / 2)) --lr 5e-4 --seed $(4) $(STAGE2)
endef
checkpoints: setup
	$(VENV)/bin/codila train dlm --out runs/dlm --steps 2400
	for b in 1 2 4 8; do $(VENV)/bin/codila train ar --dlm runs/dlm/checkpoint --out runs/ar-b$$b --block-size $$b; done
	$(VENV)/bin/codila train ar --dlm runs/dlm/checkpoint --out runs/ar-b4-top1 --block-size 4 --conditioning top1
	$(VENV)/bin/codila train ar --dlm runs/dlm/checkpoint --out runs/ar-b4-noframe --block-size 4 --no-frame
	for name in dlm $(ARS); do $(VENV)/bin/codila export runs/$$name/checkpoint runs/stage1/$$name; done
	$(VENV)/bin/codila train dlm --out runs/dlm3 --init runs/stage1/dlm --steps 2400 --lr 3e-4 --seed 3 $(STAGE2)
	$(call FINETUNE_ARS,runs/dlm3/checkpoint,2,runs/stage1,1,800)
	$(VENV)/bin/codila export runs/dlm3/checkpoint runs/stage2/dlm
	for name in $(ARS); do $(VENV)/bin/codila export runs/$$name-2/checkpoint runs/stage2/$$name; done
	$(VENV)/bin/codila train dlm --out runs/dlm4 --init runs/stage2/dlm --steps 2800 --lr 3e-4 --seed 4 $(STAGE2)
	$(call FINETUNE_ARS,runs/dlm4/checkpoint,3,runs/stage2,2,800)
	$(VENV)/bin/codila export runs/dlm4/checkpoint runs/stage3/dlm
	for name in $(ARS); do $(VENV)/bin/codila export runs/$$name-3/checkpoint runs/stage3/$$name; done
	$(VENV)/bin/codila train dlm --out runs/dlm5 --init runs/stage3/dlm --steps 2400 --lr 3e-4 --seed 5 $(STAGE2)
	$(call FINETUNE_ARS,runs/dlm5/checkpoint,4,runs/stage3,3,800)
	$(VENV)/bin/codila export runs/dlm5/checkpoint runs/stage4/dlm
	for name in $(ARS); do $(VENV)/bin/codila export runs/$$name-4/checkpoint runs/stage4/$$name; done
	$(call FINETUNE_ARS,runs/stage4/dlm,5,runs/stage4,5,3200)
	rm -rf src/codila/assets/checkpoints/dlm && cp -r runs/stage4/dlm src/codila/assets/checkpoints/dlm
	for name in $(ARS); do $(VENV)/bin/codila export runs/$$name-5/checkpoint src/codila/assets/checkpoints/$$name; done
	$(MAKE) checkpoints-residual

# Stage 6 (the shipped ARs): every AR fine-tuned 1000 more steps on the shipped DLM from the stage-5 ARs in
# src/codila/assets/checkpoints, masked in runs of 8 tokens (--mask-unit 8), the soft ones with the residual marginal
# path (`--residual`; top-1 cannot have it); each run's best-validation checkpoint,
# exported in float16, replaces the shipped AR. ctl-b4 (soft, no residual, same steps) is the control the docs compare against (not shipped).
SHIPPED := src/codila/assets/checkpoints
STAGE6 := --steps 1000 --lr 5e-4 $(STAGE2) --seed 6 --save-every 120 --eval-every 100 --mask-unit 8
checkpoints-residual: setup
	for b in 4 8 2 1; do $(VENV)/bin/codila train ar --dlm $(SHIPPED)/dlm --out runs/res-b$$b --block-size $$b --residual \
		--init $(SHIPPED)/ar-b$$b $(STAGE6); done
	$(VENV)/bin/codila train ar --dlm $(SHIPPED)/dlm --out runs/res-b4-top1 --block-size 4 --conditioning top1 \
		--init $(SHIPPED)/ar-b4-top1 $(STAGE6)
	$(VENV)/bin/codila train ar --dlm $(SHIPPED)/dlm --out runs/ctl-b4 --block-size 4 --init $(SHIPPED)/ar-b4 $(STAGE6)
	$(VENV)/bin/codila train ar --dlm $(SHIPPED)/dlm --out runs/res-b4-noframe --block-size 4 --no-frame --residual \
		--init $(SHIPPED)/ar-b4-noframe $(STAGE6)
	for name in $(ARS); do rm -rf $(SHIPPED)/$$name && $(VENV)/bin/codila export runs/res-$${name#ar-}/best $(SHIPPED)/$$name; done
	$(VENV)/bin/codila --threads 1 train block-scorer --out runs/bs-val --n 96 --split validation
	$(VENV)/bin/codila --threads 1 train block-scorer --out runs/bs-train-h32 --n 320 --hidden 32 --validation runs/bs-val/data
	cp runs/bs-train-h32/block-scorer.pt runs/bs-train-h32/block-scorer-manifest.json $(SHIPPED)/ar-b4/
	$(VENV)/bin/codila demo --record
