"""scripts/soak.sh on serial: serial serves one connection at a time, so
there the parts of the mix take turns, one client each, without the slow
part. A 20-second run must end with descriptors and PSS at baseline and
every part done without an error but the failed logins (which must all be
refused).

Skipped in a sanitizer build, as test_soak is.
"""

import os
import unittest

from test_soak import BUILD, FTPD_BIN, run_group, SOAK, SUMMARY, sanitized_build

TIMEOUT = 110  # under ctest's 120 s for tests/scripts


@unittest.skipUnless(FTPD_BIN and os.path.exists(os.path.join(BUILD, 'ftpbench')),
                     'needs FTPD_BIN and ftpbench beside it')
@unittest.skipIf(sanitized_build(), 'a sanitizer build: PSS is not comparable')
class SoakSerialTest(unittest.TestCase):

    def test_soak_serial_parts_take_turns(self):
        env = dict(os.environ, FTPD_SOAK_BUILD=BUILD)
        p = run_group(['nice', '-n', '10', 'bash', SOAK, 'serial', '0.2'], env=env, timeout=TIMEOUT)
        out = p.stdout
        self.assertEqual(p.returncode, 0, out)
        m = SUMMARY.search(out)
        self.assertIsNotNone(m, out)
        self.assertEqual(m.group(1), 'serial')
        self.assertLessEqual(int(m.group(3)), int(m.group(2)), out)
        counts = dict(part.rsplit(' ', 1) for part in m.group(6).split(', '))
        self.assertEqual(set(counts), {'login', 'retr-small', 'retr-big', 'stor-small', 'list',
                                       'failed-login', 'abort'}, out)
        for name, n in counts.items():
            self.assertGreater(int(n), 0, '%s: %s' % (name, out))
        print(m.group(0))


if __name__ == '__main__':
    unittest.main()
