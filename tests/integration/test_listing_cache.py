"""The listing cache (listing_cache_ttl): a listing is never staler than the
rules allow. An entry created or renamed in a directory shows at once; a
change inside an existing file shows at once with listing_cache_ttl = 0 and
within the TTL otherwise. Runs for every arch: reactor and hybrid cache
(the log line of a cached listing says "(cached)"), the blocking back-ends
never do, and all must show the same thing.

Every test uses its own directory, on one control connection (a hybrid
worker has its own cache, and one connection stays with one worker)."""

import os
import re
import time
import unittest

from ftpd_harness import FTPD_ARCH, FtpdTestCase

EVENTED = FTPD_ARCH in ('reactor', 'hybrid')
# FTPD_LISTING_CACHE_RACY_SEC: a directory changed this recently is not
# cached (file-system timestamps are coarse), so the tests wait it out once.
RACY_SEC = 2
DIRS = ('twice', 'added', 'renamed', 'grows', 'mlsd', 'nlst')
FILES = 40


class CacheTestCase(FtpdTestCase):
    """Fixture: DIRS, each with FILES files and one file 'grow.txt' to append to."""

    @classmethod
    def extra_fixture(cls, root):
        for d in DIRS:
            os.mkdir(os.path.join(root, d))
            for i in range(FILES):
                with open(os.path.join(root, d, 'file-%03d.txt' % i), 'wb') as f:
                    f.write(b'x' * i)
            with open(os.path.join(root, d, 'grow.txt'), 'wb') as f:
                f.write(b'12345')

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Until then nothing would be cached and every test would pass
        # without testing the cache.
        newest = max(max(st.st_mtime, st.st_ctime)
                     for st in (os.stat(os.path.join(cls.root, d)) for d in DIRS))
        delay = newest + RACY_SEC + 0.3 - time.time()
        if delay > 0:
            time.sleep(delay)

    def listing(self, f, cmd, vpath):
        """Run cmd (e.g. 'LIST twice'); return (lines, served from the cache)."""
        mark = self.server.log_mark()
        lines = []
        f.retrlines(cmd, lines.append)
        m = self.server.wait_log(r'LIST %s \d+ bytes( \(cached\))?: ok' % re.escape(vpath),
                                 start=mark)
        self.assertIsNotNone(m, 'no log line for %s' % cmd)
        return lines, m.group(1) is not None

    def sizes(self, lines):
        """{name: size} of LIST lines."""
        out = {}
        for ln in lines:
            parts = ln.split(None, 8)
            out[parts[8]] = int(parts[4])
        return out

    def append(self, rel, data):
        with open(self.path(rel), 'ab') as fp:
            fp.write(data)


class ListingCacheTest(CacheTestCase):
    config = {'listing_cache_ttl': '1'}

    def test_list_twice_identical(self):
        f = self.ftp()
        one, cached_one = self.listing(f, 'LIST twice', '/twice')
        two, cached_two = self.listing(f, 'LIST twice', '/twice')
        self.assertEqual(one, two)
        self.assertEqual(len(one), FILES + 1)
        self.assertFalse(cached_one)
        self.assertEqual(cached_two, EVENTED)

    def test_new_file_shows_at_once(self):
        f = self.ftp()
        self.listing(f, 'LIST added', '/added')
        _, cached = self.listing(f, 'LIST added', '/added')
        self.assertEqual(cached, EVENTED)
        with open(self.path('added/brand-new.txt'), 'wb') as fp:
            fp.write(b'new')
        lines, cached = self.listing(f, 'LIST added', '/added')
        self.assertFalse(cached)
        self.assertEqual(self.sizes(lines).get('brand-new.txt'), 3)
        self.assertEqual(len(lines), FILES + 2)

    def test_renamed_and_removed_show_at_once(self):
        f = self.ftp()
        f.cwd('renamed')
        self.listing(f, 'NLST', '/renamed')
        first, cached = self.listing(f, 'NLST', '/renamed')
        self.assertEqual(cached, EVENTED)
        self.assertIn('file-000.txt', first)
        os.rename(self.path('renamed/file-000.txt'), self.path('renamed/moved.txt'))
        os.unlink(self.path('renamed/file-001.txt'))
        names, cached = self.listing(f, 'NLST', '/renamed')
        self.assertFalse(cached)
        self.assertIn('moved.txt', names)
        self.assertNotIn('file-000.txt', names)
        self.assertNotIn('file-001.txt', names)
        self.assertEqual(len(names), len(first) - 1)

    def test_size_change_shows_after_ttl(self):
        f = self.ftp()
        before, _ = self.listing(f, 'LIST grows', '/grows')
        self.assertEqual(self.sizes(before)['grow.txt'], 5)
        self.append('grows/grow.txt', b'678')
        time.sleep(1.5)  # listing_cache_ttl = 1, and a bit
        after, cached = self.listing(f, 'LIST grows', '/grows')
        self.assertFalse(cached)
        self.assertEqual(self.sizes(after)['grow.txt'], 8)


class ListingCacheOffTest(CacheTestCase):
    config = {'listing_cache_ttl': '0'}

    def test_size_change_shows_at_once(self):
        f = self.ftp()
        before, cached = self.listing(f, 'LIST grows', '/grows')
        self.assertEqual(self.sizes(before)['grow.txt'], 5)
        self.assertFalse(cached)
        self.append('grows/grow.txt', b'678')
        after, cached = self.listing(f, 'LIST grows', '/grows')
        self.assertFalse(cached)
        self.assertEqual(self.sizes(after)['grow.txt'], 8)


class ListingCacheLongTtlTest(CacheTestCase):
    """A TTL longer than the test: what the cache serves is observable."""
    config = {'listing_cache_ttl': '600'}

    def test_size_change_waits_for_ttl_new_entry_does_not(self):
        f = self.ftp()
        self.listing(f, 'LIST grows', '/grows')
        self.append('grows/grow.txt', b'678')
        lines, cached = self.listing(f, 'LIST grows', '/grows')
        self.assertEqual(cached, EVENTED)
        # The documented staleness: sizes lag until the TTL (evented only).
        self.assertEqual(self.sizes(lines)['grow.txt'], 5 if EVENTED else 8)
        with open(self.path('grows/new.txt'), 'wb'):
            pass
        lines, cached = self.listing(f, 'LIST grows', '/grows')
        self.assertFalse(cached)
        sizes = self.sizes(lines)
        self.assertIn('new.txt', sizes)
        self.assertEqual(sizes['grow.txt'], 8)  # the whole listing was read again

    def test_mlsd_and_list_a_are_cached_apart(self):
        f = self.ftp()
        mlsd1, c1 = self.listing(f, 'MLSD mlsd', '/mlsd')
        list1, c2 = self.listing(f, 'LIST -a mlsd', '/mlsd')
        self.assertFalse(c1 or c2)
        mlsd2, c3 = self.listing(f, 'MLSD mlsd', '/mlsd')
        list2, c4 = self.listing(f, 'LIST -a mlsd', '/mlsd')
        self.assertEqual((c3, c4), (EVENTED, EVENTED))
        self.assertEqual(mlsd1, mlsd2)
        self.assertEqual(list1, list2)
        self.assertTrue(all('type=' in ln for ln in mlsd2))
        self.assertFalse(any('type=' in ln for ln in list2))

    def test_nlst_argument_and_glob_never_cached(self):
        f = self.ftp()
        for cmd, vpath in (('NLST nlst', '/nlst'), ('LIST nlst/file-00*', '/nlst/file-00*')):
            for _ in range(2):
                _, cached = self.listing(f, cmd, vpath)
                self.assertFalse(cached, cmd)
        f.cwd('nlst')
        self.listing(f, 'NLST', '/nlst')
        _, cached = self.listing(f, 'NLST', '/nlst')
        self.assertEqual(cached, EVENTED)


if __name__ == '__main__':
    unittest.main()
