"""Directory listings: NLST LIST MLSD (data connection), MLST and STAT
(control connection). RFC 959, RFC 3659."""

import ftplib
import os
import re
import unittest

from ftpd_harness import FIXTURE_MDTM, FtpdTestCase, data_connect, recv_all

MANY = 1500  # entries in many/: several listing chunks

LS_RE = re.compile(r'^([-dlcbps])([-rwxsStT]{9})[+@.]?\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+)\s+'
                   r'(\w{3})\s+(\d{1,2})\s+(\d{1,2}:\d{2}|\d{4})\s(.+)$')

VISIBLE_ROOT = {'empty.txt', 'one.bin', 'small.bin', 'medium.bin', 'big.bin', 'text.txt',
                'mixed.txt', 'name with spaces.txt', 'caf\u00e9.txt', 'a', 'dir with spaces',
                '\u00fcber', 'quote"dir', 'link_inside', 'link_dir', 'many'}
ROOT_TXT = {'empty.txt', 'text.txt', 'mixed.txt', 'name with spaces.txt', 'caf\u00e9.txt'}


def parse_ls(line):
    m = LS_RE.match(line)
    if not m:
        raise AssertionError('not an ls -l line: %r' % line)
    return m


class ListingTest(FtpdTestCase):

    @classmethod
    def extra_fixture(cls, root):
        d = os.path.join(root, 'many')
        os.mkdir(d)
        for i in range(MANY):
            with open(os.path.join(d, 'file-%04d.dat' % i), 'wb') as f:
                f.write(b'x' * (i % 7))

    def list_lines(self, f, cmd):
        lines = []
        f.retrlines(cmd, lines.append)
        return lines

    # ---- NLST --------------------------------------------------------------

    def test_nlst_root(self):
        f = self.ftp()
        names = set(f.nlst())
        self.assertLessEqual(VISIBLE_ROOT, names)
        self.assertNotIn('.hidden', names)
        self.assertNotIn('.', names)
        self.assertNotIn('..', names)

    def test_nlst_subdir_prefixes_argument(self):
        f = self.ftp()
        names = set(f.nlst('a'))
        self.assertEqual(names, {'a/a.txt', 'a/a.bin', 'a/b', 'a/emptydir'})

    def test_nlst_after_cwd(self):
        f = self.ftp()
        f.cwd('a/b')
        self.assertEqual(set(f.nlst()), {'b.txt', 'b.bin', 'c'})

    def test_nlst_empty_dir(self):
        f = self.ftp()
        self.assertEqual(f.nlst('a/emptydir'), [])

    def test_nlst_missing_550(self):
        f = self.ftp()
        with self.assertRaises(ftplib.error_perm) as cm:
            f.nlst('no-such-dir')
        self.assertTrue(str(cm.exception).startswith('550'), cm.exception)
        f.voidcmd('NOOP')

    def test_nlst_glob(self):
        f = self.ftp()
        names = {os.path.basename(n) for n in f.nlst('*.txt')}
        self.assertEqual(names, ROOT_TXT)

    def test_nlst_glob_in_subdir(self):
        f = self.ftp()
        names = {os.path.basename(n) for n in f.nlst('a/b/c/*.bin')}
        self.assertEqual(names, {'c.bin'})

    def test_nlst_utf8_and_spaces(self):
        f = self.ftp()
        self.assertEqual(f.nlst('\u00fcber'), ['\u00fcber/datei.txt'])
        self.assertEqual(f.nlst('dir with spaces'), ['dir with spaces/inside.txt'])

    def test_nlst_of_file(self):
        f = self.ftp()
        self.assertEqual(f.nlst('text.txt'), ['text.txt'])
        self.assertEqual(f.nlst('a/a.txt'), ['a/a.txt'])

    def test_list_glob(self):
        f = self.ftp()
        names = {parse_ls(ln).group(10) for ln in self.list_lines(f, 'LIST *.bin')
                 if not ln.startswith('total')}
        self.assertEqual({os.path.basename(n) for n in names},
                         {'one.bin', 'small.bin', 'medium.bin', 'big.bin'})

    def test_mlsd_unique_is_stable(self):
        f = self.ftp()
        one = {n: e.get('unique') for n, e in f.mlsd('a')}
        two = {n: e.get('unique') for n, e in f.mlsd('a')}
        self.assertEqual(one, two)

    def test_nlst_many(self):
        f = self.ftp()
        f.cwd('many')
        names = f.nlst()
        self.assertEqual(len(names), MANY)
        self.assertEqual(set(names), {'file-%04d.dat' % i for i in range(MANY)})

    # ---- LIST --------------------------------------------------------------

    def test_list_root(self):
        f = self.ftp()
        lines = self.list_lines(f, 'LIST')
        entries = {}
        for ln in lines:
            if ln.startswith('total'):
                continue
            m = parse_ls(ln)
            name = m.group(10)
            if m.group(1) == 'l':
                name = name.split(' -> ')[0]
            entries[name] = m
        self.assertLessEqual(VISIBLE_ROOT, set(entries))
        self.assertNotIn('.hidden', entries)
        for name in ('text.txt', 'big.bin', 'empty.txt', 'caf\u00e9.txt', 'name with spaces.txt'):
            m = entries[name]
            self.assertEqual(m.group(1), '-', name)
            self.assertEqual(int(m.group(6)), len(self.files[name]), name)
        self.assertEqual(entries['a'].group(1), 'd')
        # The fixture mtime is 2020-01-02 03:04:05 UTC: older than six months,
        # so ls shows the year.
        m = entries['text.txt']
        self.assertEqual((m.group(7), m.group(8), m.group(9)), ('Jan', '2', '2020'))

    def test_list_symlink_inside(self):
        f = self.ftp()
        lines = [ln for ln in self.list_lines(f, 'LIST') if 'link_inside' in ln]
        self.assertEqual(len(lines), 1, lines)
        # A link that resolves inside the root is shown as what it leads to
        # (what RETR would send); only links that lead nowhere show as 'l'.
        m = parse_ls(lines[0])
        self.assertEqual(m.group(1), '-')
        self.assertEqual(int(m.group(6)), len(self.files['text.txt']))

    def test_list_a_shows_dot_files(self):
        f = self.ftp()
        names = [parse_ls(ln).group(10) for ln in self.list_lines(f, 'LIST -a')
                 if not ln.startswith('total')]
        self.assertIn('.hidden', names)
        self.assertIn('text.txt', names)

    def test_list_la_option(self):
        f = self.ftp()
        text = '\n'.join(self.list_lines(f, 'LIST -la'))
        self.assertIn('.hidden', text)

    def test_list_of_file(self):
        f = self.ftp()
        lines = [ln for ln in self.list_lines(f, 'LIST text.txt') if not ln.startswith('total')]
        self.assertEqual(len(lines), 1, lines)
        m = parse_ls(lines[0])
        self.assertEqual(int(m.group(6)), len(self.files['text.txt']))
        self.assertTrue(m.group(10).endswith('text.txt'))

    def test_list_subdir(self):
        f = self.ftp()
        names = {parse_ls(ln).group(10) for ln in self.list_lines(f, 'LIST a/b')
                 if not ln.startswith('total')}
        self.assertEqual(names, {'b.txt', 'b.bin', 'c'})

    def test_list_dir_with_spaces(self):
        f = self.ftp()
        lines = [ln for ln in self.list_lines(f, 'LIST dir with spaces')
                 if not ln.startswith('total')]
        self.assertEqual([parse_ls(ln).group(10) for ln in lines], ['inside.txt'])

    def test_list_missing_550(self):
        f = self.ftp()
        with self.assertRaises(ftplib.error_perm) as cm:
            self.list_lines(f, 'LIST no-such-file')
        self.assertTrue(str(cm.exception).startswith('550'), cm.exception)

    def test_list_many(self):
        f = self.ftp()
        lines = [ln for ln in self.list_lines(f, 'LIST many') if not ln.startswith('total')]
        self.assertEqual(len(lines), MANY)
        for ln in lines:
            parse_ls(ln)

    def test_list_lines_end_with_crlf(self):
        c = self.raw_login()
        host, port = c.pasv()
        d = data_connect('127.0.0.1', port)
        self.addCleanup(d.close)
        self.assertCode(c.cmd('LIST a'), (125, 150))
        data = recv_all(d)
        d.close()
        self.assertCode(c.reply(), 226)
        self.assertTrue(data.endswith(b'\r\n'), data[-20:])
        self.assertEqual(data.count(b'\n'), data.count(b'\r\n'))

    def test_stat_during_list(self):
        """STAT and NOOP sent while a listing is sent are answered in order.
        The listing may already sit whole in the socket buffers, so its 226
        can come before, between or after them (test_retr checks STAT
        during a transfer that cannot end)."""
        c = self.raw_login()
        _, port = c.pasv()
        d = data_connect('127.0.0.1', port, rcvbuf=4096)
        self.addCleanup(d.close)
        self.assertCode(c.cmd('LIST many'), 150)
        self.assertTrue(d.recv(100))
        c.send('STAT\r\nNOOP\r\n')
        codes = [c.reply().code for _ in range(2)]
        if 226 in codes:
            codes.remove(226)
            codes.append(c.reply().code)
        else:
            recv_all(d)
            d.close()
            self.assertCode(c.reply(), 226)
        self.assertIn(codes[0], (211, 213))
        self.assertEqual(codes[1], 200)

    # ---- MLSD --------------------------------------------------------------

    def test_mlsd_root_facts(self):
        f = self.ftp()
        entries = dict(f.mlsd('/'))
        for name in ('text.txt', 'big.bin', 'a', '.hidden', 'caf\u00e9.txt', 'name with spaces.txt'):
            self.assertIn(name, entries)
        t = entries['text.txt']
        self.assertEqual(t['type'], 'file')
        self.assertEqual(int(t['size']), len(self.files['text.txt']))
        self.assertEqual(t['modify'][:14], FIXTURE_MDTM)
        self.assertIn('r', t['perm'])
        for w in 'adfcwm':
            self.assertNotIn(w, t['perm'], 'write permission advertised on a read-only server')
        self.assertTrue(t.get('unique'))
        d = entries['a']
        self.assertEqual(d['type'], 'dir')
        self.assertIn('e', d['perm'])
        self.assertIn('l', d['perm'])
        for w in 'cmp':
            self.assertNotIn(w, d['perm'])
        uniques = [e['unique'] for n, e in entries.items()
                   if e.get('type') in ('file', 'dir') and n != 'link_inside' and n != 'link_dir']
        self.assertEqual(len(uniques), len(set(uniques)), 'unique facts are not unique')
        for n, e in entries.items():
            if e.get('type') in ('cdir', 'pdir'):
                continue
            self.assertNotIn('/', n)

    def test_mlsd_modify_format(self):
        f = self.ftp()
        for name, facts in f.mlsd('a'):
            if 'modify' in facts:
                self.assertRegex(facts['modify'], r'^\d{14}(\.\d+)?$')

    def test_mlsd_sub_and_empty(self):
        f = self.ftp()
        names = {n for n, e in f.mlsd('a/b') if e.get('type') not in ('cdir', 'pdir')}
        self.assertEqual(names, {'b.txt', 'b.bin', 'c'})
        names = {n for n, e in f.mlsd('a/emptydir') if e.get('type') not in ('cdir', 'pdir')}
        self.assertEqual(names, set())

    def test_mlsd_many(self):
        f = self.ftp()
        names = [n for n, e in f.mlsd('many') if e.get('type') == 'file']
        self.assertEqual(len(names), MANY)

    def test_mlsd_of_file_is_error(self):
        f = self.ftp()
        with self.assertRaises(ftplib.error_perm) as cm:
            list(f.mlsd('text.txt'))
        self.assertRegex(str(cm.exception), r'^(501|550)')

    def test_mlsd_missing_550(self):
        f = self.ftp()
        with self.assertRaises(ftplib.error_perm) as cm:
            list(f.mlsd('no-such-dir'))
        self.assertTrue(str(cm.exception).startswith('550'), cm.exception)

    # ---- MLST --------------------------------------------------------------

    def test_mlst_file(self):
        c = self.raw_login()
        r = c.cmd('MLST text.txt')
        self.assertCode(r, 250)
        self.assertTrue(r.lines[0].startswith('250-'), r)
        self.assertTrue(r.lines[-1].startswith('250 '), r)
        self.assertEqual(len(r.lines), 3, r)
        entry = r.lines[1]
        self.assertTrue(entry.startswith(' '), r)
        facts, _, name = entry[1:].partition(' ')
        self.assertTrue(name.endswith('text.txt'), r)
        fd = dict(kv.split('=', 1) for kv in facts.rstrip(';').split(';'))
        fd = {k.lower(): v for k, v in fd.items()}
        self.assertEqual(fd['type'], 'file')
        self.assertEqual(int(fd['size']), len(self.files['text.txt']))
        self.assertEqual(fd['modify'][:14], FIXTURE_MDTM)

    def test_mlst_dir(self):
        c = self.raw_login()
        r = c.cmd('MLST a')
        self.assertCode(r, 250)
        self.assertRegex(r.lines[1].lower(), r'type=(dir|cdir);')

    def test_mlst_no_argument_is_cwd(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD a'), 250)
        r = c.cmd('MLST')
        self.assertCode(r, 250)
        self.assertRegex(r.lines[1].lower(), r'type=(dir|cdir);')

    def test_mlst_missing_550(self):
        c = self.raw_login()
        self.assertCode(c.cmd('MLST no-such-file'), 550)

    # ---- STAT <path> -------------------------------------------------------

    def test_stat_file(self):
        c = self.raw_login()
        r = c.cmd('STAT text.txt')
        self.assertCode(r, (211, 212, 213))
        self.assertTrue(r.lines[0][3] == '-' and r.lines[-1][3] == ' ', r)
        body = [ln for ln in r.lines[1:-1] if 'text.txt' in ln]
        self.assertEqual(len(body), 1, r)
        self.assertIn(' %d ' % len(self.files['text.txt']), body[0])

    def test_stat_dir(self):
        c = self.raw_login()
        r = c.cmd('STAT a')
        self.assertCode(r, (211, 212, 213))
        self.assertIn('a.txt', r.text)
        self.assertIn('emptydir', r.text)

    def test_stat_many_is_capped(self):
        c = self.raw_login()
        r = c.cmd('STAT many')
        self.assertCode(r, (211, 212, 213))
        self.assertLessEqual(len(r.lines), 1000 + 10)
        self.assertCode(c.cmd('NOOP'), 200)

    def test_stat_no_argument(self):
        c = self.raw_login()
        r = c.cmd('STAT')
        self.assertCode(r, 211)

    def test_stat_missing(self):
        c = self.raw_login()
        self.assertCode(c.cmd('STAT no-such-file'), (450, 550))


if __name__ == '__main__':
    unittest.main()
