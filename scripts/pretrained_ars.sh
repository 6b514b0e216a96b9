#!/bin/sh
# The code-pretrained local ARs of issue 14 (docs/demo.md), run from the repository root; every run is resumable
# (append --resume to the same command). Not shipped: after these 300 steps they are worse than the shipped ARs on
# held-out loss and on the validation spans (docs/demo.md).
#   scripts/pretrained_ars.sh pretrain [--resume]              causal-LM pretraining of ar-base (800-step schedule)
#   scripts/pretrained_ars.sh snapshot                         copy the pretraining's best export to runs/arlm-base-snap
#   scripts/pretrained_ars.sh finetune B CONDITIONING NAME [--resume]   CoDiLA objective from the snapshot, 300 steps
# The snapshot is the pretraining's best export (step 800 of 800, validation loss 4.226). Every AR (soft B=1, 2, 4, 8
# and top-1 B=4) gets the same 300 steps, data, seed and learning rate from the same snapshot; ship runs/NAME/best.
set -e
EXTRA=torch,scipy,sympy,numpy,matplotlib,networkx
DLM=src/codila/assets/checkpoints/dlm
CODILA="${CODILA:-codila}"
export OMP_NUM_THREADS=1
case "$1" in
  pretrain) shift
    exec $CODILA train ar-pretrain --dlm $DLM --out runs/arlm-base --preset ar-base --window 32 --batch-size 64 --steps 800 \
      --lr 1e-3 --seed 0 --eval-every 50 --save-every 180 --extra-packages $EXTRA --extra-share 0.5 "$@" ;;
  snapshot)
    rm -rf runs/arlm-base-snap && cp -r runs/arlm-base/best runs/arlm-base-snap ;;
  finetune) B=$2; COND=$3; NAME=$4; shift 4
    exec $CODILA train ar --dlm $DLM --out runs/$NAME --block-size $B --conditioning $COND --preset ar-base \
      --init runs/arlm-base-snap --steps 300 --batch-size 16 --lr 5e-4 --gap-fraction 0.5 --extra-packages $EXTRA \
      --extra-share 0.5 --seed 7 --eval-every 50 --save-every 180 "$@" ;;
  *) echo "usage: $0 pretrain|snapshot|finetune B CONDITIONING NAME [--resume]" >&2; exit 2 ;;
esac
