/* test_static_walk.c - the confinement of mote_static_dir(): both ways of opening a path
 * beneath the root (openat2's RESOLVE_BENEATH, and the component-by-component O_NOFOLLOW walk
 * used where the kernel has no openat2) on a tree with links out of it, links within it and a
 * link swapped in for a directory. The walk is the file's own static function: the test
 * includes the source. */
#include "shell/posix/static_dir.c"

#include <stdio.h>
#include <stdlib.h>

#include "check.h"

static char base[] = "/tmp/mote-walk-XXXXXX";
static char root[64];

static void make(const char *rel, int dir)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    if (dir) {
        CHECK(mkdir(path, 0755) == 0);
    } else {
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        if (f) {
            fputs(rel, f);
            fclose(f);
        }
    }
}

static void link_at(const char *target, const char *rel)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    CHECK(symlink(target, path) == 0);
}

/* Opens rel beneath the root both ways; the walk's result, and the kernel's in *kernel
 * (-2 where the kernel has no openat2). Each is 1 (opened), or -errno. */
static int open_both(int dir, const char *rel, int *kernel)
{
    int fd = open_beneath_walk(dir, rel, open_flags()), walk = fd >= 0 ? 1 : -errno;
    if (fd >= 0) close(fd);
    fd = open_beneath_kernel(dir, rel, open_flags());
    *kernel = fd >= 0 ? 1 : (errno == ENOSYS ? -2 : -errno);
    if (fd >= 0) close(fd);
    return walk;
}

int main(void)
{
    static const struct {
        const char *rel;
        int walk;    /* 1: opened; 0: refused (any error) */
        int kernel;
    } cases[] = {
        {"a.txt", 1, 1},
        {"sub/b.txt", 1, 1},
        {"sub//b.txt", 1, 1},
        {"sub/deeper/c.txt", 1, 1},
        {"..", 0, 0},
        {"../secret.txt", 0, 0},
        {"sub/../../secret.txt", 0, 0},
        {"/etc/passwd", 0, 0},              /* absolute: beneath nothing */
        {"out-abs", 0, 0},                  /* an absolute link out */
        {"out-rel", 0, 0},                  /* a relative link out */
        {"sub/up/secret.txt", 0, 0},        /* a link to "../.." */
        {"in-link", 0, 1},                  /* a link within: the walk follows no link */
        {"sub/dirlink/c.txt", 0, 1},        /* a directory link within */
        {"swapped/x", 0, 0},                /* a directory swapped for a link out */
        {"missing", 0, 0},
        {"a.txt/x", 0, 0},
    };
    size_t i;
    int dir;
    char path[128];
    if (!mkdtemp(base)) return 1;
    snprintf(root, sizeof root, "%s/root", base);
    make("root", 1);
    make("secret.txt", 0);
    make("root/a.txt", 0);
    make("root/sub", 1);
    make("root/sub/b.txt", 0);
    make("root/sub/deeper", 1);
    make("root/sub/deeper/c.txt", 0);
    snprintf(path, sizeof path, "%s/secret.txt", base);
    link_at(path, "root/out-abs");
    link_at("../secret.txt", "root/out-rel");
    link_at("../..", "root/sub/up");
    link_at("a.txt", "root/in-link");
    link_at("deeper", "root/sub/dirlink");
    link_at(base, "root/swapped"); /* as if a directory had been replaced by this link */

    dir = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(dir >= 0);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int kernel, walk = open_both(dir, cases[i].rel, &kernel);
        CHECK_MSG((walk == 1) == cases[i].walk, "walk %s: %d", cases[i].rel, walk);
        if (kernel != -2)
            CHECK_MSG((kernel == 1) == cases[i].kernel, "openat2 %s: %d", cases[i].rel, kernel);
    }
    /* a name longer than a component may be */
    memset(path, 'n', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    {
        int kernel;
        CHECK(open_both(dir, path, &kernel) < 0);
    }
    close(dir);
    snprintf(path, sizeof path, "rm -rf '%s'", base);
    CHECK(system(path) == 0);
    return check_report("test_static_walk");
}
