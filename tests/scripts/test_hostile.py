"""scripts/hostile.py (issue 15), scaled down: 100 one-byte-a-second
clients and a login flood for 3 s on reactor while a probe logs in and
lists (each within 1 s), then at least 100 wrong passwords from 100
addresses, all refused, beside a retr-small load without errors.

The build directory is FTPD_BIN's. Skipped in a sanitizer build (the
script reads PSS, and its latency bound is for the normal build).
"""

import os
import re
import sys
import unittest

from test_soak import BUILD, FTPD_BIN, run_group, sanitized_build

HOSTILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'scripts',
                       'hostile.py')
TIMEOUT = 110  # under ctest's 120 s for tests/scripts
PHASE1 = re.compile(r'^reactor slowloris 100 x 1 byte/s \+ flood \((\d+) logins, .*?(\d+) errors\): '
                    r'probe login\+LIST (\d+) times, .* (\d+) over 1 s, (\d+) failed', re.M)
PHASE2 = re.compile(r'^reactor failed logins: (\d+) refused, (\d+) accepted .* retr-small (\d+) ops, '
                    r'(\d+) errors', re.M)


@unittest.skipUnless(FTPD_BIN and os.path.exists(os.path.join(BUILD, 'ftpbench')),
                     'needs FTPD_BIN and ftpbench beside it')
@unittest.skipIf(sanitized_build(), 'a sanitizer build')
class HostileTest(unittest.TestCase):

    def test_hostile_reactor_scaled_down(self):
        env = dict(os.environ, FTPD_SOAK_BUILD=BUILD)
        p = run_group([sys.executable, HOSTILE, 'reactor', '--slow', '100', '--seconds', '3',
                       '--failed', '100', '--failed-max-seconds', '60'], env=env, timeout=TIMEOUT)
        out = p.stdout
        self.assertEqual(p.returncode, 0, out)
        m = PHASE1.search(out)
        self.assertIsNotNone(m, out)
        self.assertGreater(int(m.group(1)), 0, out)  # the flood logged in
        self.assertGreater(int(m.group(3)), 0, out)  # probes ran
        self.assertEqual(int(m.group(4)), 0, out)
        self.assertEqual(int(m.group(5)), 0, out)
        m = PHASE2.search(out)
        self.assertIsNotNone(m, out)
        self.assertGreaterEqual(int(m.group(1)), 100, out)
        self.assertEqual(int(m.group(2)), 0, out)
        self.assertGreater(int(m.group(3)), 0, out)
        self.assertEqual(int(m.group(4)), 0, out)
        print(out.strip())


if __name__ == '__main__':
    unittest.main()
