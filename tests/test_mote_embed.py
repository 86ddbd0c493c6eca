"""mote-embed (tools/mote-embed.c): a folder of odd names, an empty, a large compressible and an
incompressible file, nested folders, dot-files and a symbolic link, turned into C, compiled with
a program that prints its table, and every entry checked against the files: order, path, type,
length, bytes, gzip, ETag, mtime; the output the same over two runs; --gzip-only; the errors;
and mote_embed() (cmake/MoteEmbed.cmake) in a small CMake project, rebuilt as files change.

Usage: test_mote_embed.py MOTE_EMBED CC INCLUDE_DIR HAVE_ZLIB(0|1) [CMAKE MOTEEMBED_CMAKE]"""
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = sys.argv[1:]
if len(ARGS) not in (4, 6):
    sys.exit(__doc__)
GEN, CC, INCLUDE, HAVE_ZLIB = ARGS[0], ARGS[1], ARGS[2], ARGS[3] in ("1", "ON", "TRUE")
CMAKE, MOTEEMBED_CMAKE = (ARGS[4], ARGS[5]) if len(ARGS) == 6 else (None, None)
del sys.argv[1:]  # the rest is unittest's

# Prints the table: a line "count N", then per file seven lines: path, type and etag in hex,
# "len mtime has_data gzip_len", the data in hex (or "-"), the gzip bytes in hex (or "-"); and
# "sorted" when each path is after the one before in strcmp order.
DUMP_C = r"""
#include <stdio.h>
#include <string.h>
#include "mote_static.h"
extern const mote_embedded_table TABLE;
static void hex(const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;
    if (!p) { puts("-"); return; }
    for (i = 0; i < n; i++) printf("%02x", b[i]);
    putchar('\n');
}
int main(void)
{
    size_t i, sorted = 1;
    printf("count %zu\n", TABLE.count);
    for (i = 0; i < TABLE.count; i++) {
        const mote_embedded_file *f = &TABLE.files[i];
        if (i > 0 && strcmp(TABLE.files[i - 1].path, f->path) >= 0) sorted = 0;
        hex(f->path, strlen(f->path));
        hex(f->type, strlen(f->type));
        hex(f->etag, strlen(f->etag));
        printf("%zu %lld %d %zu\n", f->len, (long long)f->mtime, f->data != NULL, f->gzip_len);
        hex(f->data, f->len);
        hex(f->gzip, f->gzip_len);
    }
    if (sorted) puts("sorted");
    return 0;
}
"""

ODD_NAMES = [
    'quote"and\\backslash.txt',
    "??=trigraph?.txt",
    "tab\there.txt",
    "new\nline.txt",
    "space name.css",
    "end-of-comment*/x.js",  # a folder "end-of-comment*": "*/" in a path
    "ünïcödé.html",
    "percent%s%n.txt",
    "a-b",  # '-' sorts before '/': "/a-b" before "/a/b"
]


def etags(c_file):
    """{C string literal of the path: ETag} from the table of a generated file."""
    with open(c_file, "rb") as f:
        text = f.read()
    table = text[text.index(b"mote_embedded_file"):]
    literal = rb'"(?:[^"\\]|\\.)*"'
    entry = rb"\n    \{(" + literal + rb"), " + literal + rb', "\\"([0-9a-f]{32})\\""'
    return dict(re.findall(entry, table))


def run(args, **kw):
    return subprocess.run([GEN] + args, capture_output=True, **kw)


class Tree:
    """The folder: returns {relative path: bytes} of what mote-embed is to take."""

    @staticmethod
    def make(root):
        files = {}

        def put(rel, data):
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            files[rel] = data

        put("index.html", b"<!doctype html><title>mote</title>\n")
        put("empty.txt", b"")
        put("big.txt", b"".join(b"line %d of a long and very compressible file\n" % (i % 1000)
                                for i in range(50000)))  # over 2 MB
        put("sub/random.bin", os.urandom(300000))  # gzip is larger: no gzip copy
        put("sub/deeper/still/app.js", b"console.log('deep');\n" * 50)
        put("a/b", b"nested a/b\n")
        put("same1.txt", b"same content\n")
        put("same2.txt", b"same content\n")
        for i, name in enumerate(ODD_NAMES):
            put(name, b"odd %d\n" % i)
        # left out without --hidden
        hidden = {".hidden": b"dot file\n", ".git/config": b"[core]\n", "sub/.env": b"X=1\n"}
        for rel, data in hidden.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        os.symlink("index.html", os.path.join(root, "link.html"))
        os.symlink("/etc", os.path.join(root, "etc"))
        return files, hidden


class MoteEmbedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mote-embed-")
        cls.root = os.path.join(cls.tmp, "web-root")
        os.mkdir(cls.root)
        cls.files, cls.hidden = Tree.make(cls.root)
        # a fixed, old mtime on one file: the table carries it
        os.utime(os.path.join(cls.root, "index.html"), (1000000000, 1000000000))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def generate(self, name, *options, symbol="site"):
        out = os.path.join(self.tmp, name + ".c")
        t0 = time.monotonic()
        p = run(["--name", symbol, *options, "-o", out, self.root])
        elapsed = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        return out, p.stderr.decode(errors="replace"), elapsed

    def compile_and_dump(self, c_file, symbol="site"):
        base = c_file[:-2]
        dump = base + "_dump.c"
        with open(dump, "w") as f:
            f.write(DUMP_C.replace("TABLE", symbol))
        exe = base + "_dump"
        p = subprocess.run([CC, "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion",
                            "-Wshadow", "-Werror", "-I", INCLUDE, c_file, dump, "-o", exe],
                           capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        lines = subprocess.run([exe], capture_output=True, check=True).stdout.split(b"\n")
        count = int(lines[0].split()[1])
        entries = []
        for i in range(count):
            path, ctype, etag, nums, data, gz = lines[1 + 6 * i:7 + 6 * i]
            length, mtime, has_data, gz_len = (int(x) for x in nums.split())
            entries.append({
                "path": bytes.fromhex(path.decode()), "type": bytes.fromhex(ctype.decode()),
                "etag": bytes.fromhex(etag.decode()), "len": length, "mtime": mtime,
                "data": None if data == b"-" else bytes.fromhex(data.decode()),
                "gzip": None if gz == b"-" else bytes.fromhex(gz.decode()), "gzip_len": gz_len,
                "has_data": has_data})
        self.assertEqual(lines[1 + 6 * count], b"sorted")
        return entries

    def check_table(self, entries, files, gzip_only=False, mtimes=True):
        expected = sorted(b"/" + os.fsencode(rel) for rel in files)
        self.assertEqual([e["path"] for e in entries], expected)  # strcmp order, all of them
        for e in entries:
            rel = os.fsdecode(e["path"][1:])
            content = files[rel]
            self.assertEqual(e["len"], len(content), rel)
            digest = hashlib.sha1(content).hexdigest()[:32]
            self.assertEqual(e["etag"], b'"' + digest.encode() + b'"', rel)
            self.assertTrue(e["type"], rel)
            st = os.stat(os.path.join(self.root, rel))
            self.assertEqual(e["mtime"], int(st.st_mtime) if mtimes else 0, rel)
            if e["gzip"] is not None:
                self.assertEqual(len(e["gzip"]), e["gzip_len"])
                self.assertLess(e["gzip_len"], len(content), rel)
                self.assertEqual(gzip.decompress(e["gzip"]), content, rel)
                self.assertEqual(e["gzip"][4:8], b"\0\0\0\0", "gzip mtime 0")
                self.assertEqual(e["gzip"][9], 255, "gzip OS byte: unknown")
            else:
                self.assertEqual(e["gzip_len"], 0)
            if gzip_only and e["gzip"] is not None:
                self.assertIsNone(e["data"], rel)
            else:
                self.assertEqual(e["data"], content, rel)
        return {os.fsdecode(e["path"][1:]): e for e in entries}

    def test_table(self):
        out, err, elapsed = self.generate("plain")
        self.assertIn("symbolic link", err)  # the two links, skipped with a warning
        self.assertLess(elapsed, 10, "several MB should take well under a second")
        by = self.check_table(self.compile_and_dump(out), self.files)
        self.assertEqual(by["index.html"]["mtime"], 1000000000)
        self.assertEqual(by["index.html"]["type"][:9], b"text/html")
        self.assertEqual(by["empty.txt"]["len"], 0)
        self.assertIsNotNone(by["empty.txt"]["data"])  # empty, not "gzip only"
        self.assertIsNone(by["sub/random.bin"]["gzip"])
        self.assertEqual(by["same1.txt"]["etag"], by["same2.txt"]["etag"])
        self.assertNotEqual(by["same1.txt"]["etag"], by["a/b"]["etag"])
        if HAVE_ZLIB:
            self.assertIsNotNone(by["big.txt"]["gzip"])
            self.assertLess(by["big.txt"]["gzip_len"], len(self.files["big.txt"]) // 10)
        else:
            self.assertTrue(all(e["gzip"] is None for e in by.values()))
        with open(out, "rb") as f:
            text = f.read()
        self.assertNotIn(b"*/.js", text.split(b"{", 1)[0])  # no path in a comment
        lines = text.split(b"\n")
        self.assertEqual(max(len(line) for line in lines if line.startswith(b"    0x")), 104)
        self.assertNotIn(b"\x09", text)  # the tab is escaped
        self.assertEqual([f for f in os.listdir(self.tmp) if ".tmp" in f], [])

    def test_reproducible_and_etag_follows_content(self):
        a, _, _ = self.generate("run1")
        b, _, _ = self.generate("run2")
        with open(a, "rb") as fa, open(b, "rb") as fb:
            self.assertEqual(fa.read(), fb.read())
        # a changed file: a new ETag for it, the same for the others (read from the C text:
        # test_table checks them compiled)
        before = etags(a)
        path = os.path.join(self.root, "a/b")
        st = os.stat(path)
        try:
            with open(path, "wb") as f:
                f.write(b"changed\n")
            c, _, _ = self.generate("run3")
            after = etags(c)
        finally:
            with open(path, "wb") as f:
                f.write(self.files["a/b"])
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.assertEqual(len(before), len(self.files))
        changed = b'"/a/b"'
        self.assertNotEqual(before[changed], after[changed])
        self.assertEqual({k: v for k, v in before.items() if k != changed},
                         {k: v for k, v in after.items() if k != changed})

    def test_gzip_only_no_mtime_hidden(self):
        out, _, _ = self.generate("gzonly", "--gzip-only", "--no-mtime", "--hidden")
        files = dict(self.files, **self.hidden)
        by = self.check_table(self.compile_and_dump(out), files, gzip_only=True, mtimes=False)
        with open(out, "rb") as f:
            text = f.read()
        if HAVE_ZLIB:
            self.assertIsNone(by["big.txt"]["data"])
            self.assertEqual(by["big.txt"]["len"], len(self.files["big.txt"]))
            index = sorted(by).index("big.txt")
            self.assertNotIn(b"site_%d_data" % index, text)
        self.assertIsNotNone(by["sub/random.bin"]["data"])  # no gzip copy: the plain bytes

    def test_no_gzip_exclude_type_header_default_name(self):
        out = os.path.join(self.tmp, "nogz.c")
        header = os.path.join(self.tmp, "nogz.h")
        p = run(["--no-gzip", "--exclude", "*.bin", "--exclude", "sub/deeper", "--exclude",
                 "big.*", "--type",
                 "css=text/x-odd", "-H", header, "-o", out, self.root + "/"])
        self.assertEqual(p.returncode, 0, p.stderr)
        files = {k: v for k, v in self.files.items()
                 if not k.endswith(".bin") and not k.startswith("sub/deeper") and k != "big.txt"}
        by = self.check_table(self.compile_and_dump(out, "web_root"), files)
        self.assertTrue(all(e["gzip"] is None for e in by.values()))
        self.assertEqual(by["space name.css"]["type"], b"text/x-odd")
        with open(header) as f:
            self.assertIn("extern const mote_embedded_table web_root;", f.read())

    def test_empty_folder(self):
        empty = os.path.join(self.tmp, "empty-dir")
        os.makedirs(empty, exist_ok=True)
        out = os.path.join(self.tmp, "none.c")
        p = run(["-o", out, empty])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.compile_and_dump(out, "empty_dir"), [])

    def test_help_and_errors(self):
        p = run(["--help"])
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"usage: mote-embed", p.stdout)
        p = run(["--version"])
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"zlib" if HAVE_ZLIB else b"without zlib", p.stdout)
        out = os.path.join(self.tmp, "err.c")
        with open(out, "w") as f:
            f.write("previous\n")
        for args, message in [
            (["-o", out, os.path.join(self.tmp, "missing")], b"cannot stat"),
            (["-o", out, os.path.join(self.root, "index.html")], b"not a folder"),
            ([self.root], b"no output file"),
            (["-o", out], b"no DIR"),
            (["--name", "9lives", "-o", out, self.root], b"not a C identifier"),
            (["--bogus", "-o", out, self.root], b"unknown option"),
            (["--gzip-only", "--no-gzip", "-o", out, self.root], b"exclude each other"),
            (["-o", os.path.join(self.tmp, "no/such/dir/x.c"), self.root], b"cannot create"),
            (["-o"], b"needs an argument"),
        ]:
            p = run(args)
            self.assertEqual(p.returncode, 1, args)
            self.assertTrue(p.stderr.startswith(b"mote-embed: "), p.stderr)
            self.assertIn(message, p.stderr, args)
        with open(out) as f:
            self.assertEqual(f.read(), "previous\n")  # left as it was
        if os.geteuid() != 0:  # root reads anything
            unreadable = os.path.join(self.tmp, "unreadable")
            os.makedirs(unreadable, exist_ok=True)
            secret = os.path.join(unreadable, "secret.txt")
            with open(secret, "w") as f:
                f.write("x")
            os.chmod(secret, 0)
            p = run(["-o", out, unreadable])
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"cannot open", p.stderr)
            with open(out) as f:
                self.assertEqual(f.read(), "previous\n")
        self.assertEqual([f for f in os.listdir(self.tmp) if ".tmp" in f], [])

    @unittest.skipUnless(CMAKE, "no CMake given")
    def test_cmake_function(self):
        """mote_embed() in a project of its own: built, and built again as a file changes, is
        added and is removed."""
        proj = os.path.join(self.tmp, "cmake-user")
        web = os.path.join(proj, "web")
        os.makedirs(os.path.join(web, "css"))
        with open(os.path.join(web, "index.html"), "w") as f:
            f.write("one\n")
        with open(os.path.join(proj, "main.c"), "w") as f:
            f.write('#include <stdio.h>\n#include "assets_embed.h"\n'
                    "int main(void)\n{\n    size_t i;\n"
                    "    for (i = 0; i < assets.count; i++)\n"
                    '        printf("%s %zu\\n", assets.files[i].path, assets.files[i].len);\n'
                    "    return 0;\n}\n")
        with open(os.path.join(proj, "CMakeLists.txt"), "w") as f:
            f.write("cmake_minimum_required(VERSION 3.16)\nproject(user LANGUAGES C)\n"
                    f'set(MOTE_EMBED_EXECUTABLE "{GEN}")\n'
                    f'include("{MOTEEMBED_CMAKE}")\n'
                    "add_executable(user main.c)\n"
                    f'target_include_directories(user PRIVATE "{INCLUDE}")\n'
                    "mote_embed(user web NAME assets GZIP_ONLY NO_MTIME)\n")
        build = os.path.join(proj, "build")

        def build_and_run(regenerates=True):
            time.sleep(0.05)  # the files' mtimes after the last output's (ns timestamps)
            p = subprocess.run([CMAKE, "--build", build], capture_output=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(b"mote-embed: " in p.stdout, regenerates, p.stdout)
            return subprocess.run([os.path.join(build, "user")], capture_output=True,
                                  check=True).stdout.decode()

        p = subprocess.run([CMAKE, "-S", proj, "-B", build], capture_output=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(build_and_run(), "/index.html 4\n")
        self.assertEqual(build_and_run(regenerates=False), "/index.html 4\n")
        time.sleep(0.05)
        with open(os.path.join(web, "index.html"), "w") as f:
            f.write("changed\n")
        self.assertEqual(build_and_run(), "/index.html 8\n")
        time.sleep(0.05)
        with open(os.path.join(web, "css", "site.css"), "w") as f:
            f.write("body{}\n")
        self.assertEqual(build_and_run(), "/css/site.css 7\n/index.html 8\n")
        time.sleep(0.05)
        os.remove(os.path.join(web, "index.html"))
        self.assertEqual(build_and_run(), "/css/site.css 7\n")
        self.assertEqual(build_and_run(regenerates=False), "/css/site.css 7\n")

if __name__ == "__main__":
    unittest.main()
