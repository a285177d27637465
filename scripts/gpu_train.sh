#!/usr/bin/env bash
# Train the bundled model on a lent GPU machine (Keras on the JAX backend) and send the best
# checkpoint back in chunks that fit the transfer limits (see scripts/weights_chunks.py).
#
#   bash scripts/gpu_train.sh DATA_DIR OUT_DIR SIZE TIME_BUDGET_S [extra train args...]
#
# Needs the keras, namex and optree wheels in .whl/ (the machine has JAX but no Keras) and the
# training split copied into .devdata/ (git-ignored; the machine cannot see ../shared), e.g.
#   mkdir -p .devdata/chest_xray_224sq && cp -r ../shared/data/chest_xray_224sq/train .devdata/chest_xray_224sq/
# and both named in the call's carry list.
set -uo pipefail
data=$1 out=$2 size=$3 budget=$4
shift 4
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=0.8
nvidia-smi -L
python3 -c 'import jax, keras; print("jax", jax.__version__, jax.devices(), "keras", keras.__version__)' || exit 1
run=/tmp/run
mkdir -p "$out"
python3 -m training train --data "$data" --out "$run" --size "$size" --time-budget "$budget" "$@" 2>&1 | tee "$out/train.log"
status=$?
cp "$run/config.json" "$run/history.csv" "$run/timing.json" "$out/" 2>/dev/null
if [ -f "$run/best.keras" ]; then
    python3 scripts/weights_chunks.py pack "$run/best.keras" "$out" --chunk-mib 15 || status=1
fi
ls -la "$out"
exit $status
