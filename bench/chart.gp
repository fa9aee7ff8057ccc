# bench/run.sh's chart (drawn by chart.sh). Variables (gnuplot -e): rate (seconds, rows/s
# over the interval the line belongs to, rows committed),
# bars (path key, rows/s), out (PNG), orders (orders in the main set), has_rate and has_bars
# (1 when that file has data: bench/run.sh --only may leave either out; one panel then).
set terminal pngcairo size (has_rate && has_bars ? 1400 : 700),520 font "DejaVu Sans,10"
set output out
set termoption noenhanced # underscores in labels are underscores
set multiplot layout 1,(has_rate && has_bars ? 2 : 1) title sprintf("nomnom bench: %s orders (~5 rows each), fsync on", orders)

set title "JetStream drain, track_status on: committed rows over time (sampled every 0.5 s)"
set xlabel "seconds since the worker started"
set ylabel "rows/s (between samples)"
set y2label "rows committed"
set ytics nomirror
set y2tics
set format y "%.0s%c"
set format y2 "%.0s%c"
set grid ytics
set yrange [0:*]
set y2range [0:*]
set key bottom right
if (has_rate) {
    plot rate using 1:2 with lines lw 2 title "rows/s", \
         rate using 1:3 axes x1y2 with lines lw 1 dt 2 title "rows committed"
}

unset y2label
unset y2tics
set title "rows/s by path (same orders, checked against the generator's totals)"
set xlabel ""
set ylabel "rows/s"
set style fill solid 0.7
set boxwidth 0.7
set xtics rotate by -35 left
if (has_bars) {
    stats bars using 2 nooutput
    set yrange [0:STATS_max * 1.1] # room for the value labels
    unset key
    plot bars using 0:2:xtic(1) with boxes lc rgb "#4477aa", \
         bars using 0:2:(sprintf("%.0f", $2)) with labels offset 0,0.7 font ",9"
}
unset multiplot
