"""Control events on every back-end: SIGUSR1 is read and reported by every
process (never swallowed, never fatal; SIGHUP reloads: test_reload.py;
SIGUSR2, the live upgrade: test_upgrade.py), and a
graceful stop of an idle server logs no accept errors (hybrid workers used
to retry accept() on the listeners their master had shut down, hundreds of
times per stop)."""
import os
import re
import shutil
import signal
import tempfile
import time
import unittest

from ftpd_harness import (FTPD_ARCH, Server, RawClient, VARIANT_CONFIG, make_tree,
                          write_config)


class SignalsTest(unittest.TestCase):

    def setUp(self):
        self.tmpdir = tempfile.mkdtemp(prefix='ftpd-sig-')
        self.addCleanup(shutil.rmtree, self.tmpdir, True)
        self.root = os.path.join(self.tmpdir, 'tree')
        os.makedirs(self.root)
        make_tree(self.root)
        self.config = write_config(os.path.join(self.tmpdir, 'ftpd.conf'),
                                   dict(VARIANT_CONFIG, workers=2, threads=4))

    def start(self):
        server = Server(self.root, config_path=self.config)
        self.addCleanup(server.kill)
        server.wait_listening(10)
        return server

    def session(self, server):
        c = RawClient('127.0.0.1', server.port_of())
        try:
            c.login()
            self.assertEqual(c.cmd('NOOP').code, 200)
            self.assertEqual(c.cmd('QUIT').code, 221)
        finally:
            c.close()

    def test_usr1_reported_not_fatal(self):
        server = self.start()
        # A session held open: process children and blocking loops get the
        # signals too.
        held = RawClient('127.0.0.1', server.port_of())
        self.addCleanup(held.close)
        held.login()
        deadline = time.monotonic() + 5
        pids = server.pids()
        while FTPD_ARCH in ('process', 'prefork', 'hybrid') and len(pids) < 2 \
                and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = server.pids()
        for sig, name in ((signal.SIGUSR1, r'reopen logs \(SIGUSR1\)'),):
            mark = server.log_mark()
            for pid in pids:
                os.kill(pid, sig)
            for pid in pids:
                self.assertTrue(
                    server.wait_log(r'\[%d\] .*%s' % (pid, name), 5, mark),
                    'pid %d did not report %s\n%s' % (pid, name, server.log_text()))
            self.assertTrue(server.alive())
        # Everything still works, the held session included (closed before
        # the next one: serial serves one at a time).
        self.assertEqual(held.cmd('NOOP').code, 200)
        self.assertEqual(held.cmd('QUIT').code, 221)
        held.close()
        self.session(server)
        self.assertEqual(server.stop(10), 0)
        self.assertFalse(server.killed)

    def test_graceful_stop_of_idle_server_logs_no_accept_errors(self):
        for _ in range(3):
            server = self.start()
            self.session(server)
            time.sleep(0.2)  # idle
            self.assertEqual(server.stop(10), 0)
            self.assertFalse(server.killed)
            errors = [ln for ln in server.lines if re.search(r'accept: ', ln)]
            self.assertEqual(errors, [], '\n'.join(server.lines[-40:]))
            self.assertTrue(server.wait_log(r'stopp', 0), server.log_text())


if __name__ == '__main__':
    unittest.main()
