#!/usr/bin/env bash
# The observe loop on one machine, in about a minute: a digital twin of two vLLM replicas
# (`wva simulate --serve-metrics`) serving ten minutes of Azure-like chat traffic at 20x, a
# real Prometheus scraping it on loopback, then `wva observe` reading Prometheus back into a
# scenario, a trace and observations, `wva plan` on the scenario and `wva estimate` on the
# observations. Everything stops and is removed on exit (Ctrl-C included).
#
#   examples/observe-demo.sh            # from the project root, after `cargo build --release`
#   examples/observe-demo.sh --keep DIR # keep what was written in DIR
#
# Needs `prometheus` on PATH (Debian/Ubuntu: apt-get install prometheus). WVA=path/to/wva to
# use another binary. docs/observe.md explains each step.
set -euo pipefail
cd "$(dirname "$0")/.."

wva=${WVA:-target/release/wva}
keep=""
if [ "${1:-}" = "--keep" ]; then keep=${2:?--keep needs a folder}; fi
command -v prometheus >/dev/null || { echo "observe-demo: needs prometheus on PATH (apt-get install prometheus)" >&2; exit 2; }
[ -x "$wva" ] || { echo "observe-demo: no $wva; run cargo build --release first (or set WVA)" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$work"/*.yaml "$work"/*.csv "$keep"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
twin_port=$(free_port)
prom_port=$(free_port)
speedup=20

cat > "$work/prometheus.yml" <<EOF
global:
  scrape_interval: 250ms
  scrape_timeout: 200ms
scrape_configs:
  - job_name: vllm-twin
    static_configs:
      - targets: ['127.0.0.1:$twin_port']
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom_port" > "$work/prometheus.log" 2>&1 &
pids+=($!)
prom="http://127.0.0.1:$prom_port"
echo "== Prometheus at $prom; waiting for its scrape loop (a few seconds)"
for _ in $(seq 300); do
  if curl -fs "$prom/api/v1/targets" 2>/dev/null | grep -q '"lastScrape":"20'; then break; fi
  sleep 0.1
done

echo "== the twin: 2 x H100 replicas of Llama-3.1-8B, 10 minutes of traffic at ${speedup}x"
"$wva" simulate --profile profiles/llama-3.1-8b-instruct.yaml --accelerator H100 --replicas 2 \
  --trace traces/azure-conv-like-10min.csv --rate-scale 2 \
  --serve-metrics "127.0.0.1:$twin_port" --speedup "$speedup" --linger-s 2 \
  > "$work/simulation.txt" 2> "$work/twin.log" &
twin=$!
pids+=($twin)
until grep -q "serving the twin" "$work/twin.log" 2>/dev/null; do sleep 0.02; done
start=$(date +%s.%N)
cat "$work/twin.log"
wait "$twin"
duration=$(awk '/serving the twin/ { for (i = 1; i <= NF; i++) if ($i == "traffic") print $(i-3) }' "$work/twin.log")
end=$(awk -v s="$start" -v d="$duration" -v x="$speedup" 'BEGIN { printf "%.3f", s + d / x }')

echo "== wva observe: what Prometheus recorded, as a scenario, a trace and observations"
"$wva" observe --prometheus "$prom" --start "$start" --end "$end" --step 1s --time-scale "$speedup" \
  --scenario-out "$work/observed.yaml" --base scenarios/quickstart.yaml \
  --trace-out "$work/observed-trace.csv" --observations-out "$work/observations.csv"

echo "== wva plan on the observed load (p95 of the per-step rate)"
"$wva" plan "$work/observed.yaml"

echo "== wva estimate: a profile from the observations (the twin ran alpha 6.49, beta 0.0219, gamma 0.0000496)"
"$wva" estimate "$work/observations.csv" --perf-model wva-v2 --max-num-batched-tokens 8192 -q | grep -E "alpha|beta|gamma|source"
