#!/usr/bin/env bash
# The whole pipeline on the built-in synthetic dataset, on the CPU (called by `make demo`).
#
#   synthetic clips -> exact masks into the store's corrected layer (gtm)
#                   -> offline pseudo masks into the pseudo layer (pm) -> agreement, stats
#                   -> fineparser train --masks gtm (validation split held out of training)
#                   -> fineparser eval on the test split (Spearman rho beside the Delta = 0 vote,
#                      SAP attention IoU, predicted-vs-true PNG)
#
# Usage: scripts/demo.sh [OUT]   (default demo_out; everything is written under OUT)
# Environment: DEMO_VIDEOS (clips, default 800: 480 train, 120 validation, 200 test), DEMO_EPOCHS (override the config's epochs),
#              DEMO_PM_SPLIT (split given pseudo masks, default test; "all" for every clip),
#              DEMO_PM_SHARD (K/N: pseudo masks for every N-th clip of that split, default 0/8, to save time).
set -euo pipefail
OUT=${1:-demo_out}
VIDEOS=${DEMO_VIDEOS:-800}
CONFIG=${DEMO_CONFIG:-configs/demo.json}
PM_SPLIT=${DEMO_PM_SPLIT:-test}
PM_SHARD=${DEMO_PM_SHARD:-0/8}
step() { printf '\n== %s (%ds)\n' "$*" "$SECONDS"; }

step "1/7 synthetic dataset ($VIDEOS clips) -> $OUT/data"
hmtools synth "$OUT/data" --videos "$VIDEOS" --seed 0 --force --quiet

step "2/7 mask store with the exact masks as the corrected layer (gtm)"
rm -rf "$OUT/store"
hmtools init "$OUT/store"
hmtools import-hm --store "$OUT/store" --masks "$OUT/data/FineDiving_HM" \
  --dataset synthetic --data-root "$OUT/data" --layer corrected

step "3/7 pseudo masks from the offline backends (classical segmenter, mask propagation; split: $PM_SPLIT, shard $PM_SHARD)"
split=()
[ "$PM_SPLIT" != all ] && split=(--split "$PM_SPLIT")
hmtools pseudo-mask "$OUT/data" --dataset synthetic --store "$OUT/store" --truth-prompts \
  --tracker none --segmenter classical --no-progress --shard "$PM_SHARD" "${split[@]}"

step "4/7 pseudo vs corrected agreement"
hmtools agreement --store "$OUT/store" --png "$OUT/agreement.png" --csv "$OUT/agreement.csv" | tail -n 12

step "5/7 mask statistics (the paper's Fig. 4 counting)"
hmtools stats --store "$OUT/store" --by action_type --by synchronized --by split --png "$OUT/stats.png"

step "6/7 train Uni-FineParser (demo preset, ground-truth masks; rho per epoch on the validation split)"
extra=()
[ -n "${DEMO_EPOCHS:-}" ] && extra+=(--set "epochs=$DEMO_EPOCHS")
fineparser train --config "$CONFIG" --dataset synthetic --data-root "$OUT/data" \
  --store "$OUT/store" --masks gtm --run-dir "$OUT/runs/gtm" "${extra[@]}"

step "7/7 evaluate the last epoch on the test split (M-exemplar voting, EMA weights)"
fineparser eval --checkpoint "$OUT/runs/gtm/last.pt" --split test

printf '\nPictures: %s/data/preview.png %s/stats.png %s/agreement.png\n' "$OUT" "$OUT" "$OUT"
printf '          %s/runs/gtm/curves.png (training curve) %s/runs/gtm/predictions_test.png\n' "$OUT" "$OUT"
printf 'demo finished in %d s\n' "$SECONDS"
