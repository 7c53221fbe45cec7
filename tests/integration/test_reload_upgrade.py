"""A reload, then a live upgrade, on every back-end whose listeners a reload
can change: the upgrade hands over the listeners of the generation current
at the time (the address the reload added included), not those the server
started with. The new generation adopts both sockets and serves the added
address on the same port."""
import os
import shutil
import signal
import tempfile
import time
import unittest

from ftpd_harness import (VARIANT_CONFIG, RawClient, Server, make_tree, pid_alive,
                          write_config)

# Back-ends whose accepting threads or workers cannot take a new set of
# listeners (test_reload.py checks they say so).
FIXED_LISTENERS = (VARIANT_CONFIG.get('hybrid_balance') == 'reuseport'
                   or VARIANT_CONFIG.get('threadpool_dispatch') == 'accept')
WAIT = 20.0


@unittest.skipIf(FIXED_LISTENERS, 'this variant keeps its listeners on a reload')
class ReloadThenUpgradeTest(unittest.TestCase):

    def test_upgrade_passes_the_reloaded_listeners(self):
        tmp = tempfile.mkdtemp(prefix='ftpd-reload-upgrade-')
        self.addCleanup(shutil.rmtree, tmp, True)
        root = os.path.join(tmp, 'tree')
        os.makedirs(root)
        make_tree(root)
        conf = os.path.join(tmp, 'ftpd.conf')
        base = dict(VARIANT_CONFIG, workers=2, threads=4, upgrade_drain_timeout=2)
        write_config(conf, dict(base, listen='127.0.0.1'))
        server = Server(root, config_path=conf, listen_flag=False)
        new_pid = []
        self.addCleanup(self.stop_all, server, new_pid)
        server.wait_listening(10)

        write_config(conf, dict(base, listen='127.0.0.1, 127.0.0.2'))
        mark = server.log_mark()
        os.kill(server.proc.pid, signal.SIGHUP)
        m = server.wait_log(r'listening on 127\.0\.0\.2:(\d+)', WAIT, mark)
        self.assertIsNotNone(m, server.log_text()[-3000:])
        port2 = int(m.group(1))

        mark = server.log_mark()
        os.kill(server.proc.pid, signal.SIGUSR2)
        m = server.wait_log(r'upgrade: new generation pid (\d+) is ready', WAIT, mark)
        self.assertIsNotNone(m, server.log_text()[-3000:])
        new_pid.append(int(m.group(1)))
        self.assertIsNotNone(server.wait_log(r'adopting 2 listening sockets', 5, mark),
                             server.log_text()[-3000:])
        # The added address, on its port, from the new generation once the
        # old one has gone.
        deadline = time.monotonic() + WAIT
        while pid_alive(server.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(pid_alive(server.proc.pid), 'the old generation did not exit')
        c = RawClient('127.0.0.2', port2)
        try:
            self.assertEqual(c.greeting.code, 220)
            self.assertEqual(c.login().code, 230)
            self.assertEqual(c.cmd('QUIT').code, 221)
        finally:
            c.close()

    @staticmethod
    def stop_all(server, new_pid):
        for pid in new_pid:
            if pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 10
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
        server.stop(10)


if __name__ == '__main__':
    unittest.main()
