# Chart of one scripts/bench.sh run: three panels in one PNG.
#   1. login sessions/s per server at each concurrency (grouped bars)
#   2. memory per idle session, KiB (bars, log scale)
#   3. retr-big throughput, MB/s (grouped bars)
# Data files come from scripts/benchlib/table.py (write_plot_data;
# python3 scripts/benchlib table CSV --plot-data DIR) (login.dat,
# idle.dat, big.dat); a missing file leaves its panel with a note.
#
#   gnuplot -e "datadir='DIR'" -e "outfile='chart.png'" scripts/bench-plot.gp

if (!exists("datadir")) datadir = "."
if (!exists("outfile")) outfile = "chart.png"

login = datadir . "/login.dat"
idle = datadir . "/idle.dat"
big = datadir . "/big.dat"
have(f) = system("test -s '" . f . "' && echo 1 || echo 0") eq "1"
ncols(f) = int(system("sed -n 2p '" . f . "' | wc -w"))

set terminal pngcairo size 1400,1500 font "DejaVu Sans,11" noenhanced
set output outfile
set datafile missing "NaN"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics lc rgb "#dddddd"
set key inside top left horizontal
set offsets 0, 0, graph 0.15, 0 # headroom for the key
set xtics rotate by -30 left nomirror
set ytics nomirror
set border 3
set lmargin 12
set format y "%.0f"
set linetype 1 lc rgb "#4e79a7"
set linetype 2 lc rgb "#f28e2b"
set linetype 3 lc rgb "#59a14f"
set linetype 4 lc rgb "#e15759"
set linetype 5 lc rgb "#76b7b2"

set multiplot layout 3,1 title "ftpd back-ends and other FTP servers, one run on 127.0.0.1 (higher is better except memory)" font ",14"

# 1. Login rate.
set title "Logins: sessions/s (connect, USER/PASS, QUIT) at each client concurrency"
set ylabel "sessions/s"
set yrange [0:*]
if (have(login)) {
    n = ncols(login)
    plot for [i = 2:n] login using i:xtic(1) title columnheader(i)
} else {
    set label 1 "no login runs" at graph 0.5, 0.5 center
    plot [0:1][0:1] NaN notitle
    unset label 1
}

# 2. Idle memory, log scale.
set title "Idle sessions: server memory (PSS of its process tree) per session, KiB, log scale (lower is better)"
set ylabel "KiB per session"
set logscale y
set yrange [0.1:*]
set format y "%g"
if (have(idle)) {
    # Boxes at explicit x (not a histogram), so each can carry its value.
    n = ncols(idle)
    k = n - 1
    w = 0.8 / k
    bx(i) = column(0) + (i - 2 - (k - 1) / 2.0) * w
    set boxwidth w absolute
    set xrange [-0.6:*]
    # A measured 0 (below PSS resolution) is drawn at the axis floor, labelled 0.
    atleast(v) = v < 0.1 ? 0.1 : v
    plot idle skip 1 using 0:(1e-9):xtic(1) with points ps 0 notitle, \
         for [i = 2:n] idle using (bx(i)):(atleast(column(i))) with boxes lt (i - 1) title columnheader(i), \
         for [i = 2:n] idle skip 1 using (bx(i)):(atleast(column(i))):(sprintf("%.1f", column(i))) \
             with labels offset 0,0.7 font ",9" notitle
    set boxwidth 0.9 relative
    set xrange [*:*]
} else {
    set label 1 "no idle runs" at graph 0.5, 0.5 center
    plot [0:1][1:10] NaN notitle
    unset label 1
}
unset logscale y
set format y "%.0f"

# 3. Large file throughput.
set title "Large file RETR: MB/s (sendfile where the server has it)"
set ylabel "MB/s"
set yrange [0:*]
if (have(big)) {
    n = ncols(big)
    plot for [i = 2:n] big using i:xtic(1) title columnheader(i)
} else {
    set label 1 "no retr-big runs" at graph 0.5, 0.5 center
    plot [0:1][0:1] NaN notitle
    unset label 1
}

unset multiplot
