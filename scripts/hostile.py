#!/usr/bin/env python3
"""Hostile-load figures (issue 15) for one back-end, with ftpbench:

  1. slowloris + flood: K slow clients trickling a byte a second
     (ftpbench --scenario slow --slow K --slow-tick 1) and a connection
     flood (ftpbench --scenario login, anonymous, no rate cap) at once; a
     probe client connects, logs in and LISTs every second: the worst and
     median time, and how many took over 1 s.
  2. failed logins: at least N logins with a wrong password, checked and
     refused (the server log's "login failed" lines), from 100 source
     addresses (--sources 100, 200 clients) while 4 clients run
     retr-small (their errors and p99) and a client logs in to the account
     every second (its times and failures: it waits for the same hashing
     CPU); the server's PSS before and after. ftpbench's --count counts successes only, so the failing load
     runs in rounds of up to 60 s until N were refused (each one is
     answered after login_fail_delay and costs the server a password hash,
     so this takes minutes), or --failed-max-seconds passed.

    scripts/hostile.py ARCH [--slow 2000] [--seconds 30] [--failed 10000]
                            [--failed-max-seconds 900] [--hash yescrypt|sha512]

The account's password hash is yescrypt (what `ftpd --hash-password`
makes) or, with --hash sha512, SHA-512-crypt at 5000 rounds: a yescrypt
check costs ~80 ms of CPU on a 2-core VM, so 10,000 of them take some 15
minutes of hashing alone; $6$ keeps the flood's shape at a cost the run
can afford.

Uses the build in FTPD_SOAK_BUILD (default build/). Prints one line per
phase; exit status 1 when a probe took over 1 s or failed (on the
back-ends that bound it: reactor, hybrid, thread and threadpool; prefork
and process are measured, serial holds one session at a time), a
retr-small failed, fewer than N wrong passwords were refused, or one was
accepted.
"""

import argparse
import ctypes
import ctypes.util
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
import threading
import time

# The back-ends whose probe must log in and list within 1 s under the
# slowloris and the flood.
PROBE_BOUNDED = ('reactor', 'hybrid', 'thread', 'threadpool')

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


def server_log_count(path, start):
    """From byte start of the server's log: logins checked and refused
    (530), turned away because too many checks waited (421), and clients
    that hung up while theirs was checked."""
    n = {'failed': 0, 'busy': 0, 'hung_up': 0}
    with open(path, 'rb') as f:
        f.seek(start)
        for line in f:
            if b'login failed for ' in line:
                n['failed'] += 1
            elif b'too many password checks waiting' in line:
                n['busy'] += 1
            elif b'hung up while its login was checked' in line:
                n['hung_up'] += 1
    return n


def account_login(port, password, timeout=10):
    """Log in with the right password and QUIT: seconds taken."""
    t0 = time.monotonic()
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        f = s.makefile('rb')

        def cmd(text):
            if text:
                s.sendall(text.encode() + b'\r\n')
            line = f.readline().decode('latin-1')
            while len(line) >= 4 and line[3] == '-':
                line = f.readline().decode('latin-1')
            return line

        if not cmd('').startswith('220') or not cmd('USER acct').startswith('331'):
            raise OSError('no greeting or no 331')
        r = cmd('PASS ' + password)
        if not r.startswith('230'):
            raise OSError('login answered %r' % r.strip())
        cmd('QUIT')
    return time.monotonic() - t0


def account_prober(port, password, stop, times, fails):
    """Every second until stop is set: one account login, timed."""
    while not stop.wait(1.0):
        try:
            times.append(account_login(port, password))
        except (OSError, ValueError) as e:
            fails.append(str(e))


def sha512_crypt(password):
    """A $6$ hash (5000 rounds) through libcrypt's crypt_gensalt/crypt."""
    lib = ctypes.CDLL(ctypes.util.find_library('crypt') or 'libcrypt.so.1')
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    h = lib.crypt(password.encode(), lib.crypt_gensalt(b'$6$', 0, None, 0)).decode()
    if not h.startswith('$6$'):
        raise RuntimeError('crypt gave %r' % h)
    return h


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
    ap.add_argument('--failed-max-seconds', type=float, default=900)
    ap.add_argument('--hash', choices=('yescrypt', 'sha512'), default='yescrypt')
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
        if a.hash == 'sha512':
            h = sha512_crypt(pw)
        else:
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
        if a.arch.split('+')[0] in PROBE_BOUNDED:
            ok &= over == 0 and fails == 0 and bool(times)

        # Phase 2: failed logins from 100 addresses, retr-small beside them.
        time.sleep(2)
        before = pss_kib(server.pid)
        good = bench(build, port, '--scenario', 'retr-small', '--file', '/small.bin', '--concurrency', '4',
                     '--rate', '50', '--duration', str(a.failed_max_seconds + 120))
        procs.append(good)
        t0 = time.monotonic()
        log.flush()
        log_start = os.path.getsize(log.name)
        refused = accepted = rounds = errors = 0
        stop, acct_times, acct_fails = threading.Event(), [], []
        prober = threading.Thread(target=account_prober, args=(port, pw, stop, acct_times, acct_fails))
        prober.start()
        while refused < a.failed and time.monotonic() - t0 < a.failed_max_seconds:
            # A round sized for the refusals still wanted at 100/s (more than
            # a 2-core machine hashes), so the last one overshoots little.
            left = a.failed_max_seconds - (time.monotonic() - t0)
            secs = max(5, min(60, left, (a.failed - refused) / 100))
            bad = bench(build, port, '--scenario', 'login', '--user', 'acct', '--password', 'wrong',
                        '--sources', '100', '--concurrency', '200', '--duration', str(secs),
                        '--timeout', '10')
            procs.append(bad)
            br = result(bad, 180)
            procs.remove(bad)
            errors += br['errors']
            accepted += br['ops']
            rounds += 1
            refused = server_log_count(log.name, log_start)['failed']
        took = time.monotonic() - t0
        stop.set()
        prober.join()
        acct_summary = (f'{len(acct_times)} times, median '
                        f'{statistics.median(acct_times) if acct_times else float("nan"):.3f} s, worst '
                        f'{max(acct_times) if acct_times else float("nan"):.3f} s, {len(acct_fails)} failed')
        for e in sorted(set(acct_fails)):
            print(f'account login failed: {e}', file=sys.stderr)
        good.send_signal(signal.SIGINT)
        try:
            gr = result(good, 30)
        except subprocess.TimeoutExpired:
            good.kill()
            gr = result(good, 30)
        time.sleep(2)
        after = pss_kib(server.pid)
        seen = server_log_count(log.name, log_start)
        print(f'{a.arch} failed logins: {refused} refused, {accepted} accepted in {took:.0f} s ({rounds} rounds) '
              f'from 100 addresses ({errors} client errors: {seen["busy"]} turned away with 421 as too many checks '
              f'waited, {seen["hung_up"]} hung up waiting); account login beside them {acct_summary}; beside them retr-small {gr["ops"]} ops, {gr["errors"]} errors, p99 '
              f'{gr["p99_ms"]} ms; PSS {before} -> {after} KiB')
        ok &= accepted == 0 and refused >= a.failed and gr['errors'] == 0 and gr['ops'] > 0
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
