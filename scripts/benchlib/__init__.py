"""benchlib: scripts/bench.sh's benchmark, in Python 3 (standard library only).

  matrix.py   the back-ends (ftpd --list-archs and their variants), the
              scenario matrix (full, --quick) and each server's runs
  servers.py  ftpd's and the other servers' configurations, their binaries
  table.py    the CSV schema (COLUMNS), results.md's tables and ratios, and
              the data files of the chart (scripts/bench-plot.gp)
  run.py      the run itself: fixture, servers, ftpbench, results directory
  upgrade_idle.py  reactor and hybrid holding 1,000 idle sessions across a
              live upgrade (SIGUSR2): upgrade-idle@1000

  python3 scripts/benchlib run --build DIR [FLAGS]   (what bench.sh runs)
  python3 scripts/benchlib table RESULTS.CSV [--notes F] [--machine F]
                                 [--plot-data DIR] [--chart PNG]
"""

USAGE = """\
Benchmark every ftpd back-end, and the other FTP servers found on this
machine, with ftpbench on loopback; write a CSV, a markdown table with the
ratios, and a PNG chart.

Usage: scripts/bench.sh [--quick] [--archs "reactor hybrid ..."]
                        [--servers "vsftpd pure-ftpd proftpd pyftpdlib"]
                        [--tls-only | --no-tls] [--out DIR] [--no-fetch]
                        [--only "idle@100000 ..."]
  --quick     reduced matrix, about 4 minutes on 2 cores (2.5 with
              --no-tls; serial left out unless named in --archs)
  --archs     ftpd back-ends to run (default: every one ftpd --list-archs
              lists); a variant runs a back-end with other config keys:
              threadpool+accept, hybrid+reuseport (benchlib/matrix.py)
  --servers   other servers to run ("" for none; default: all four)
  --tls-only  only the FTPS runs: tls-login@128, tls-retr-small@16 and
              tls-retr-big@1 (ftpbench --tls: AUTH TLS, PROT P, data
              connections resuming the control session) against every
              ftpd back-end (tls = optional), vsftpd, pure-ftpd and proftpd
              (mod_tls), each started again with TLS on and a self-signed
              ECDSA certificate made with openssl at bench time
  --no-tls    leave the FTPS runs out (by default they follow the plain ones)
  --out DIR   results directory (default: bench-results/<UTC timestamp>)
  --no-fetch  do not run scripts/bench-servers.sh for a missing server
  --only      make only the runs with these tags (as in results.md:
              login@16, idle@10000 ...); e.g. --archs hybrid --servers ""
              --only idle@100000 makes the scale run alone: hybrid holding
              100,000 idle sessions, one worker and one ftpbench process
              per 15,000 (skipped, saying why, on a machine without the
              memory, descriptors or ports for it); upgrade-idle@1000: reactor
              and hybrid hold 1,000 idle sessions across SIGUSR2, all of
              them answering NOOPs from the new generation; upgrade@128 is the
              live-upgrade run (login@128 with SIGUSR2 every 2 s, against
              the same without; its table is upgrade.md)

Environment:
  VSFTPD_BIN, PUREFTPD_BIN, PROFTPD_BIN  server binaries (default: PATH,
                     then bench-servers/<name>/usr/sbin/<name>)
  PYFTPDLIB          "system" (the python3 that imports pyftpdlib) or a
                     directory holding the pyftpdlib package
  FTPBENCH           load generator (default: build-bench-rel/ftpbench)
  FTPD               the ftpd to benchmark (default: build-bench-rel/ftpd)
  BENCH_PREFORK_WORKERS, BENCH_THREADS   prefork workers and threadpool
                     threads (default 32 each); hybrid runs one worker per CPU

With reactor among the back-ends and haproxy installed, login@128 and
retr-small@16 are run again through HAProxy to one and to two reactor
nodes (ftpd-reactor+haproxy1, +haproxy2; README "Behind HAProxy").

Results: results.csv (ftpbench's rows), results.md (tables and ratios),
chart.png, machine.txt, notes.txt (what was skipped or failed, and why),
conf/ (the generated server configurations) and logs/.
Everything runs on 127.0.0.1; every server started is stopped on exit.
"""
