"""scripts/soak.sh (issue 15): a 30-second soak on reactor and on threadpool,
the two at once, so CI spends about a minute of wall time on it. Each must
end with its descriptors and PSS back at baseline and no operation failed
but the failed logins.

The build directory is FTPD_BIN's. Skipped in a sanitizer build: ASan's
shadow memory and quarantine make a PSS baseline meaningless, and the
soak's point there is covered by the integration suite.
"""

import os
import re
import signal
import subprocess
import unittest

FTPD_BIN = os.environ.get('FTPD_BIN', '')
BUILD = os.path.dirname(os.path.abspath(FTPD_BIN)) if FTPD_BIN else ''
SOAK = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'scripts', 'soak.sh')
ARCHS = ('reactor', 'threadpool')
MINUTES = '0.5'
TIMEOUT = 110  # under ctest's 120 s for tests/scripts
SUMMARY = re.compile(r'^soak (\S+) .*: ok; processes \d+ -> \d+, fds (\d+) -> (\d+), '
                     r'PSS (\d+) -> (\d+) KiB; ops: (.*)$', re.M)


def run_group(args, env, timeout):
    """Run args in a process group of its own; on a timeout the whole group
    (the script, its server, its clients) is killed, then the timeout is
    raised. Returns the CompletedProcess (stdout and stderr together)."""
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        out = p.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        kill_group(p)
        raise
    return subprocess.CompletedProcess(args, p.returncode, out)


def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def sanitized_build():
    try:
        with open(os.path.join(BUILD, 'CMakeCache.txt')) as f:
            for line in f:
                if line.startswith('FTPD_SANITIZE:'):
                    return line.split('=', 1)[1].strip() != ''
    except OSError:
        pass
    return False


@unittest.skipUnless(FTPD_BIN and os.path.exists(os.path.join(BUILD, 'ftpbench')),
                     'needs FTPD_BIN and ftpbench beside it')
@unittest.skipIf(sanitized_build(), 'a sanitizer build: PSS is not comparable')
class SoakTest(unittest.TestCase):

    def test_soak_reactor_and_threadpool(self):
        env = dict(os.environ, FTPD_SOAK_BUILD=BUILD)
        procs = {a: subprocess.Popen(['nice', '-n', '10', 'bash', SOAK, a, MINUTES],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env,
                                     start_new_session=True)
                 for a in ARCHS}
        outputs = {}
        try:
            for arch, p in procs.items():
                outputs[arch] = p.communicate(timeout=TIMEOUT)[0]
        finally:
            for p in procs.values():
                if p.poll() is None:
                    kill_group(p)
        for arch, p in procs.items():
            with self.subTest(arch=arch):
                out = outputs[arch]
                self.assertEqual(p.returncode, 0, out)
                m = SUMMARY.search(out)
                self.assertIsNotNone(m, out)
                self.assertEqual(m.group(1), arch)
                self.assertLessEqual(int(m.group(3)), int(m.group(2)), out)
                # Every part of the mix ran: no zero count.
                counts = dict(part.rsplit(' ', 1) for part in m.group(6).split(', '))
                self.assertEqual(set(counts), {'login', 'retr-small', 'retr-big', 'stor-small',
                                               'list', 'slow', 'failed-login', 'abort'}, out)
                for name, n in counts.items():
                    self.assertGreater(int(n), 0, '%s: %s' % (name, out))
                print(m.group(0))


if __name__ == '__main__':
    unittest.main()
