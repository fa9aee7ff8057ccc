#!/usr/bin/env bash
# Draws bench/run.sh's chart from its JSON, so a chart can be redrawn without a new run.
#   bash bench/chart.sh [bench/results/latest.json] [bench/results/latest.png]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
json=${1:-$HERE/results/latest.json}
png=${2:-${json%.json}.png}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# rows/s over each sampling interval, drawn as a step from its start to its end.
jq -r '.drain_samples | range(1; length) as $i | .[$i - 1] as $a | .[$i] as $b
       | select($b.t > $a.t)
       | (($b.orders + $b.line_items - $a.orders - $a.line_items) / ($b.t - $a.t)) as $r
       | "\($a.t) \($r) \($a.orders + $a.line_items)\n\($b.t) \($r) \($b.orders + $b.line_items)"' \
    "$json" >"$tmp/rate.dat"
jq -r '.results[] | "\(.key) \(.rows_per_s)"' "$json" >"$tmp/bars.dat"
gnuplot -e "rate='$tmp/rate.dat'; bars='$tmp/bars.dat'; out='$png'; orders='$(jq .params.orders "$json")'" \
    "$HERE/chart.gp"
