#!/usr/bin/env python3
"""Hostile-load figures (issue 15) for one back-end, with ftpbench:

  1. slowloris + flood: K slow clients trickling a byte a second
     (ftpbench --scenario slow --slow K --slow-tick 1) and a connection
     flood (ftpbench --scenario login, anonymous, no rate cap) at once; a
     probe client connects, logs in and LISTs every second: the worst and
     median time, and how many took over 1 s.
  2. failed logins: about N logins with a wrong password (for N/150 s: a
     refused login is answered after a delay, and ftpbench's --count counts
     successes only) from 100 source
     addresses (--sources 100) while 4 clients run retr-small: their errors
     and p99, and the server's PSS before and after.

    scripts/hostile.py ARCH [--slow 2000] [--seconds 30] [--failed 10000]

Uses the build in FTPD_SOAK_BUILD (default build/). Prints one line per
phase; exit status 1 when a probe took over 1 s, a probe or a
retr-small failed, or a wrong password was accepted.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pss_kib(root_pid):
    """PSS of root_pid and its descendants."""
    parent = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    parent[int(d)] = int(f.read().rsplit(')', 1)[1].split()[1])
            except OSError:
                pass
    tree, grew = {root_pid}, True
    while grew:
        grew = False
        for p, pp in parent.items():
            if pp in tree and p not in tree:
                tree.add(p)
                grew = True
    total = 0
    for p in tree:
        try:
            with open(f'/proc/{p}/smaps_rollup') as f:
                total += sum(int(l.split()[1]) for l in f if l.startswith('Pss:'))
        except OSError:
            pass
    return total


def probe(port, timeout=10):
    """Connect, log in anonymously, LIST /dir, QUIT: seconds taken."""
    t0 = time.monotonic()
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        f = s.makefile('rb')

        def reply():
            line = f.readline().decode('latin-1')
            while len(line) >= 4 and line[3] == '-':
                line = f.readline().decode('latin-1')
            if len(line) < 4:
                raise OSError('connection closed')
            return line

        def cmd(text):
            s.sendall(text.encode() + b'\r\n')
            return reply()

        if not reply().startswith('220'):
            raise OSError('no greeting')
        cmd('USER anonymous')
        if not cmd('PASS probe@').startswith('230'):
            raise OSError('login refused')
        r = cmd('PASV')
        n = r[r.index('(') + 1:r.index(')')].split(',')
        with socket.create_connection(('127.0.0.1', int(n[4]) * 256 + int(n[5])), timeout=timeout) as d:
            if not cmd('LIST /dir').startswith('150'):
                raise OSError('LIST refused')
            while d.recv(65536):
                pass
        if not reply().startswith('226'):
            raise OSError('LIST not completed')
        cmd('QUIT')
    return time.monotonic() - t0


def bench(build, port, *args):
    return subprocess.Popen([os.path.join(build, 'ftpbench'), '--host', '127.0.0.1', '--port', str(port),
                             '--json', '--quiet', *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def result(p, timeout):
    out = p.communicate(timeout=timeout)[0]
    for line in reversed(out.splitlines()):
        if line.startswith('{'):
            return json.loads(line)
    raise RuntimeError('ftpbench gave no result:\n' + out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('arch')
    ap.add_argument('--slow', type=int, default=2000)
    ap.add_argument('--seconds', type=float, default=30)
    ap.add_argument('--failed', type=int, default=10000)
    a = ap.parse_args()
    build = os.environ.get('FTPD_SOAK_BUILD', os.path.join(REPO, 'build'))
    ftpd = os.path.join(build, 'ftpd')
    tmp = tempfile.mkdtemp(prefix='ftpd-hostile.')
    procs = []
    ok = True
    try:
        root = os.path.join(tmp, 'root')
        os.makedirs(os.path.join(root, 'dir'))
        with open(os.path.join(root, 'small.bin'), 'wb') as f:
            f.write(os.urandom(4096))
        for i in range(50):
            open(os.path.join(root, 'dir', f'file{i}.txt'), 'w').close()
        pw = 'hostile-%d' % os.getpid()
        h = subprocess.run([ftpd, '--hash-password'], input=pw + '\n', capture_output=True, text=True,
                           check=True).stdout.strip()
        with open(os.path.join(tmp, 'users'), 'w') as f:
            f.write(f'acct:{h}:{root}:r\n')
        conf = os.path.join(tmp, 'ftpd.conf')
        with open(conf, 'w') as f:
            f.write(f'users_file = {tmp}/users\nmax_clients = {a.slow + 1000}\nmax_per_ip = 0\n'
                    'idle_timeout = 120\n' + ('run_as_user = root\n' if os.geteuid() == 0 else ''))
        log = open(os.path.join(tmp, "ftpd.log"), "w+")
        server = subprocess.Popen([ftpd, '--config', conf, '--arch', a.arch, '--listen', '127.0.0.1',
                                   '--port', '0', '--root', root, '--log-level', 'info'],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        procs.append(server)
        port = None
        for _ in range(100):
            with open(log.name) as f:
                m = re.search(r'listening on 127\.0\.0\.1:(\d+)', f.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.1)
        if port is None:
            with open(log.name) as f:
                raise RuntimeError('ftpd did not report its port:\n' + f.read())

        # Phase 1: slowloris + flood, probed every second.
        secs = a.seconds
        slow = bench(build, port, '--scenario', 'slow', '--file', '/small.bin', '--slow', str(a.slow),
                     '--slow-tick', '1', '--concurrency', '1', '--rate', '2', '--timeout', '30',
                     '--duration', str(secs + 10))
        procs.append(slow)
        time.sleep(5)  # the slow clients connect
        flood = bench(build, port, '--scenario', 'login', '--concurrency', '32', '--duration', str(secs))
        procs.append(flood)
        times, fails = [], 0
        end = time.monotonic() + secs
        while time.monotonic() < end:
            try:
                times.append(probe(port))
            except (OSError, ValueError) as e:
                fails += 1
                print(f'probe failed: {e}', file=sys.stderr)
            time.sleep(1)
        fl = result(flood, secs + 60)
        sl = result(slow, secs + 90)
        over = sum(t > 1.0 for t in times)
        worst = max(times) if times else float('nan')
        print(f'{a.arch} slowloris {a.slow} x 1 byte/s + flood ({fl["ops"]} logins, {fl["ops_per_s"]}/s, '
              f'{fl["errors"]} errors): probe login+LIST {len(times)} times, median '
              f'{statistics.median(times) if times else float("nan"):.3f} s, worst {worst:.3f} s, '
              f'{over} over 1 s, {fails} failed; slow clients: {sl.get("slow_ops")} sessions done')
        ok &= over == 0 and fails == 0 and bool(times)

        # Phase 2: failed logins from 100 addresses, retr-small beside them.
        time.sleep(2)
        before = pss_kib(server.pid)
        good = bench(build, port, '--scenario', 'retr-small', '--file', '/small.bin', '--concurrency', '4',
                     '--rate', '50', '--duration', '600')
        procs.append(good)
        t0 = time.monotonic()
        bad = bench(build, port, '--scenario', 'login', '--user', 'acct', '--password', 'wrong',
                    '--sources', '100', '--concurrency', '200', '--duration', str(max(5, a.failed // 150)),
                    '--timeout', '30')
        procs.append(bad)
        br = result(bad, 900)
        took = time.monotonic() - t0
        good.send_signal(signal.SIGINT)
        try:
            gr = result(good, 30)
        except subprocess.TimeoutExpired:
            good.kill()
            gr = result(good, 30)
        time.sleep(2)
        after = pss_kib(server.pid)
        print(f'{a.arch} failed logins: {br["errors"]} refused, {br["ops"]} accepted in {took:.0f} s from 100 '
              f'addresses; beside them retr-small {gr["ops"]} ops, {gr["errors"]} errors, p99 {gr["p99_ms"]} ms; '
              f'PSS {before} -> {after} KiB')
        ok &= br['ops'] == 0 and gr['errors'] == 0 and gr['ops'] > 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
