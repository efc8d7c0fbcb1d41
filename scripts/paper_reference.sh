#!/usr/bin/env bash
# The literature-size reference (results/paper/, rendered in reports/paper/): the paper preset's sizes, narrowed
# to what 2 cores run in about 4.5 hours. The whole paper preset (540 gradients cells at depths 1-4 for every
# estimator, 202 speed cells) takes days on such a machine.
#
#   scripts/paper_reference.sh    # OUT=results/paper/<machine> WORKERS=$(nproc) SETTLE_S=300; --resume: a killed
#                                 # run goes on
#
# Sizes: sbn-vae 784-200 and 784-200-200 at batch 50 (linear, nonlinear), bsn with 200-unit layers,
# categorical-vae 20 x 10 with 256 hidden units, the Gaussian VAE (20 latents, 500 hidden) and the BNN (400 hidden)
# of seed 000, each on the digits upsampled to 28 x 28 (bench/problems/*, `sizes["paper"]`); seed 001's stochastic
# ResNet and skip RNN at their default sizes on the same digits.
# Per family, the papers' estimators with their baselines; trained control variates learn on 8 estimates a
# warm-up step, as the papers train them on one minibatch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-results/paper/$("$PY" -c 'from bench.store.meta import machine; print(machine())')}
WORKERS=${WORKERS:-$(nproc 2>/dev/null || echo 1)}
BERNOULLI=reinforce,rloo,disarm,double-cv:warmup_rows=8,unordered-set,gumbel-softmax,reinmax
CATEGORICAL=reinforce,rloo,carms,disarm-cat,unordered-set,gumbel-softmax,reinmax
GAUSSIAN=reinforce,rloo,reparam,local-reparam
RUN=("$PY" -m bench run --preset paper --out "$OUT" --resume --quiet)

load() { cut -d' ' -f1-3 /proc/loadavg; }
SETTLE_S=${SETTLE_S:-300}
settle() {  # timings want a quiet machine: wait (at most SETTLE_S s) for the 1-minute load average to fall below 0.3
  local waited=0
  while awk '{exit !($1 >= 0.3)}' /proc/loadavg && [ "$waited" -lt "$SETTLE_S" ]; do sleep 10; waited=$((waited + 10)); done
}
FAILED=()
step() {  # one suite's command, with its duration and the load averages before and after it; a failed cell fails
  # its command, which is named at the end, and the steps after it still run
  local name=$1 start=$SECONDS before status=ok; before=$(load); shift
  "${RUN[@]}" "$@" || { status=failed; FAILED+=("$name"); }
  echo "$name: $status, $((SECONDS - start)) s (load $before before, $(load) after)"
}

# gradients: sbn-vae at one and two stochastic layers, bsn at two
step "gradients, sbn-vae" gradients --problems sbn-vae --depths 1,2 --estimators "$BERNOULLI" \
  --n-estimates 1000 --workers "$WORKERS"
step "gradients, bsn" gradients --problems bsn --depths 2 --estimators "$BERNOULLI" --n-estimates 1000 \
  --workers "$WORKERS"
step "gradients, categorical VAE" gradients --problems categorical-vae --estimators "$CATEGORICAL" \
  --n-estimates 1000 --workers "$WORKERS"
step "gradients, Gaussian VAE" gradients --problems gaussian-vae --estimators "$GAUSSIAN" --n-estimates 1000 \
  --workers "$WORKERS"
# the BNN on one worker: two workers computed its reference truth side by side (it is cached only once made) and
# ran for 10 minutes without either finishing; alone it took 3 390 estimates. The cap bounds it (its standard
# error is carried into every bias figure)
step "gradients, BNN" gradients --problems bnn --estimators "$GAUSSIAN" --n-estimates 1000 --workers 1 \
  --truth-max-estimates 10000
# seed 001's define-by-run models at their standard sizes, on the 28 x 28 digits: the stochastic ResNet (32 units;
# 2 blocks, enumerable, and 4) and the skip RNN (one gate per image row, 28 steps of 28 pixels, 32 units). The skip
# RNN's reference truth, capped like the BNN's, is made by one worker first; the other cells then share it
SD=stochastic-depth:data=digits28
SR=skip-rnn:data=digits28
step "gradients, stochastic depth" gradients --problems "$SD" --depths 2,4 --estimators "$BERNOULLI" \
  --n-estimates 1000 --workers "$WORKERS"
step "gradients, skip RNN, its truth" gradients --problems "$SR" --depths 1 --estimators reinforce --backend jax \
  --n-estimates 1000 --workers 1 --truth-max-estimates 10000
# double CV's JAX warm-up (per-row gradients through 28 unrolled gates) outgrew the default budget of a worker of
# two (5.9 GB here): it runs alone with more
step "gradients, skip RNN, double CV in JAX" gradients --problems "$SR" --depths 1 --backend jax \
  --estimators double-cv:warmup_rows=8 --n-estimates 1000 --workers 1 --truth-max-estimates 10000 --memory-budget 16GB
step "gradients, skip RNN" gradients --problems "$SR" --depths 1 --estimators "$BERNOULLI" --n-estimates 1000 \
  --workers "$WORKERS" --truth-max-estimates 10000
# speed on the gradients' own configurations, so variance x time joins cell by cell (cells timed one at a time)
settle; step "speed, sbn-vae and bsn" speed --problems sbn-vae,bsn --depths 2 --estimators "$BERNOULLI"
settle; step "speed, categorical VAE" speed --problems categorical-vae --depths 1 --estimators "$CATEGORICAL"
settle; step "speed, Gaussian VAE" speed --problems gaussian-vae --depths 1 --estimators "$GAUSSIAN"
settle; step "speed, bnn" speed --problems bnn --estimators "$GAUSSIAN"
settle; step "speed, stochastic depth" speed --problems "$SD" --depths 2,4 --estimators "$BERNOULLI"
settle; step "speed, skip RNN" speed --problems "$SR" --depths 1 --estimators "$BERNOULLI"
# variance along the DisARM-driven training run of the DisARM, ARMS and double-CV papers (torch; the truth
# capped, since only the variance is compared)
step "trajectory" trajectory --problems sbn-vae --backend torch --n-estimates 500 --truth-max-estimates 2000 \
  --checkpoints 0,100,1000,10000 --estimators rloo,arm,disarm,arms,reinmax,ugc,double-cv:warmup_rows=8,rodeo:warmup_rows=8
"$PY" -m bench report --results "$OUT" --out reports/paper
if [ ${#FAILED[@]} -gt 0 ]; then
  printf 'failed: %s\n' "${FAILED[@]}" >&2
  exit 1
fi
