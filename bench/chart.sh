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
# bench/run.sh --only may leave out the growth series (no samples) or every row of the table:
# a panel whose data is absent is left out (none at all: no chart).
has_rate=$([[ -s $tmp/rate.dat ]] && echo 1 || echo 0)
has_bars=$([[ -s $tmp/bars.dat ]] && echo 1 || echo 0)
if ((!has_rate && !has_bars)); then
    echo "chart.sh: $json has neither drain samples nor results: no chart" >&2
    rm -f "$png"
    exit 0
fi
gnuplot -e "rate='$tmp/rate.dat'; bars='$tmp/bars.dat'; out='$png'; orders='$(jq .params.orders "$json")'" \
    -e "has_rate=$has_rate; has_bars=$has_bars" "$HERE/chart.gp"
