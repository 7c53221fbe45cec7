"""The syscall filter (seccomp = yes|no, src/util/sandbox.c) on every
back-end: once the server serves, every process (master, workers,
per-connection children, supervisor) and every thread of each runs under
the seccomp-bpf filter (Seccomp: 2 in /proc/PID/task/TID/status), while
sessions and transfers still work; seccomp = no leaves them all at 0.
That a syscall outside the list kills the process, naming it, is
test_sandbox's (unit) job: nothing a client sends makes ftpd call ptrace.
Sanitizer builds say `seccomp: off (sanitizer build)` and are checked for
that only."""
import ftplib
import os
import re
import shutil
import tempfile
import time
import unittest

from ftpd_harness import (FTPD_ARCH, Server, RawClient, VARIANT_CONFIG, binary_is_sanitized,
                          make_tree, write_config)

MULTI_PROCESS = ('process', 'prefork', 'hybrid')


def seccomp_of_tasks(pids):
    """{(pid, tid): (Seccomp, Seccomp_filters)} of every thread of pids."""
    out = {}
    for pid in pids:
        try:
            tids = os.listdir('/proc/%d/task' % pid)
        except OSError:
            continue  # gone (a child that finished)
        for tid in tids:
            try:
                with open('/proc/%d/task/%s/status' % (pid, tid)) as f:
                    text = f.read()
            except OSError:
                continue
            mode = re.search(r'^Seccomp:\s+(\d+)', text, re.M)
            filters = re.search(r'^Seccomp_filters:\s+(\d+)', text, re.M)
            out[(pid, int(tid))] = (int(mode.group(1)), int(filters.group(1)) if filters else -1)
    return out


class SeccompTest(unittest.TestCase):

    def setUp(self):
        self.tmpdir = tempfile.mkdtemp(prefix='ftpd-seccomp-')
        self.addCleanup(shutil.rmtree, self.tmpdir, True)
        self.root = os.path.join(self.tmpdir, 'tree')
        os.makedirs(self.root)
        make_tree(self.root)

    def start(self, mode):
        config = write_config(os.path.join(self.tmpdir, 'ftpd-%s.conf' % mode),
                              dict(VARIANT_CONFIG, workers=2, threads=4, seccomp=mode))
        server = Server(self.root, config_path=config)
        self.addCleanup(server.kill)
        server.wait_listening(10)
        return server

    def busy_tasks(self, server):
        """Hold a logged-in session (a worker or child serves it) and run a
        listing on another; the tasks of the server while both live."""
        held = RawClient('127.0.0.1', server.port_of())
        self.addCleanup(held.close)
        held.login()
        self.assertEqual(held.cmd('NOOP').code, 200)
        if FTPD_ARCH != 'serial':  # serial serves one session at a time
            other = ftplib.FTP()
            other.connect('127.0.0.1', server.port_of(), timeout=10)
            self.addCleanup(other.close)
            other.login()
            self.assertIn('text.txt', other.nlst())
            self.assertEqual(other.size('small.bin'), 1000)
        deadline = time.monotonic() + 5
        pids = server.pids()
        while FTPD_ARCH in MULTI_PROCESS and len(pids) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = server.pids()
        if FTPD_ARCH in MULTI_PROCESS:
            self.assertGreaterEqual(len(pids), 2, 'no worker process seen')
        tasks = seccomp_of_tasks(pids)
        self.assertIn((server.proc.pid, server.proc.pid), tasks)
        return tasks

    def test_every_process_and_thread_filtered_and_no_leaves_it_off(self):
        server = self.start('yes')
        if binary_is_sanitized():
            self.assertTrue(server.wait_log(r'seccomp: off \(sanitizer build\)', 5),
                            server.log_text())
        else:
            self.assertTrue(server.wait_log(r'seccomp: syscall filter on', 5), server.log_text())
            tasks = self.busy_tasks(server)
            unfiltered = {t: s for t, s in tasks.items() if s[0] != 2 or s[1] < 1}
            self.assertEqual(unfiltered, {}, 'tasks without the filter (of %d)' % len(tasks))
            self.assertEqual(server.stop(10), 0, server.log_text())
            self.assertNotIn('forbidden syscall', server.log_text())

        server = self.start('no')
        self.assertFalse(server.wait_log(r'seccomp: ', 0), server.log_text())
        tasks = self.busy_tasks(server)
        filtered = {t: s for t, s in tasks.items() if s[0] != 0}
        self.assertEqual(filtered, {}, 'tasks filtered with seccomp = no')
        self.assertEqual(server.stop(10), 0, server.log_text())


if __name__ == '__main__':
    unittest.main()
