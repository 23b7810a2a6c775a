/*
 * symbolize.c - C stack frames to function and file:line, when a report is
 * made rather than on the allocation path (heaptrack's split).
 *
 * The tracer records a C frame as (module, offset of the return address in
 * the module).  Here the frames of a snapshot are resolved by addr2line
 * (binutils, which gcc depends on), run without a shell, in batches, once
 * per module: the debug information is read by the tool that knows every
 * DWARF version, and the library reads none of it.  The address addr2line
 * wants is the link-time one: offset + the lowest PT_LOAD address of the
 * ELF file (0 for shared objects and PIE executables), minus one so that a
 * return address names the line of the call.
 *
 * A module path comes from the snapshot, which may come from a file made
 * elsewhere: only a regular file is opened (never a FIFO or a device, and
 * never blocking), and for a snapshot read from a file only a module whose
 * file now has the identity the snapshot recorded at dump time (device,
 * inode, size, modification time) is handed to addr2line, unless the
 * caller asks for any module (RCGC_SYMBOLIZE_ANY_MODULE).
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "platform/os.h"
#include "trace/snapshot_internal.h"

#define BATCH 256

typedef struct pending {
    rcgc_frame *frame;
    uint64_t address; /* link-time address to ask about */
} pending;

/* The lowest PT_LOAD address of the ELF64 file open at fd (its link-time
 * base), or -1 when it is not a readable ELF64 file. */
static int64_t elf_base(int fd)
{
    Elf64_Ehdr eh;
    int64_t base = -1;
    if (rcgc__os_pread_all(fd, &eh, sizeof eh, 0) == 0 &&
        memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
        eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr)) {
        for (unsigned i = 0; i < eh.e_phnum && i < 4096; i++) {
            Elf64_Phdr ph;
            if (rcgc__os_pread_all(fd, &ph, sizeof ph, eh.e_phoff + i * sizeof ph) != 0)
                break;
            if (ph.p_type != PT_LOAD) continue;
            uint64_t v = ph.p_vaddr & ~(uint64_t)(ph.p_align > 1 ? ph.p_align - 1 : 0);
            if (base < 0 || (int64_t)v < base) base = (int64_t)v;
        }
    }
    return base;
}

/* Run addr2line on n addresses of module; its output (two lines per
 * address) into *out (malloc'ed).  0, or -1 with err set. */
static int run_addr2line(const rcgc_allocator *a, const char *module,
                         const pending *p, size_t n, char **out, char *err,
                         size_t errlen)
{
    char (*args)[24] = rcgc__umalloc(a, n * sizeof *args);
    const char **argv = rcgc__umalloc(a, (n + 8) * sizeof *argv);
    int rc = -1;
    if (args == NULL || argv == NULL) {
        rcgc__set_err(err, errlen, "symbolize: out of memory");
        goto done;
    }
    size_t k = 0;
    argv[k++] = "addr2line";
    argv[k++] = "-f"; /* function names */
    argv[k++] = "-C"; /* demangled */
    argv[k++] = "-e";
    argv[k++] = module;
    for (size_t i = 0; i < n; i++) {
        snprintf(args[i], sizeof args[i], "0x%llx", (unsigned long long)p[i].address);
        argv[k++] = args[i];
    }
    argv[k] = NULL;
    rcgc__os_run_result res;
    int e = rcgc__os_run(argv, RCGC__OS_RUN_STDIN_NULL | RCGC__OS_RUN_STDOUT_PIPE |
                                   RCGC__OS_RUN_STDERR_NULL, &res);
    if (e == ENOMEM)
        rcgc__set_err(err, errlen, "symbolize: out of memory");
    else if (e != 0)
        rcgc__set_err(err, errlen, "symbolize: %s", strerror(e));
    else if (res.exec_error != 0 || res.status == 127)
        rcgc__set_err(err, errlen, "symbolize: addr2line not found (Debian package binutils)");
    else if (res.status != 0)
        rcgc__set_err(err, errlen, "symbolize: addr2line failed on %s", module);
    else {
        *out = res.out;
        res.out = NULL;
        rc = 0;
    }
    free(res.out);
done:
    rcgc__ufree(a, args);
    rcgc__ufree(a, argv);
    return rc;
}

/* Take the next line of *cursor (NUL-ending it in place), or NULL. */
static char *next_line(char **cursor)
{
    char *s = *cursor;
    if (s == NULL || *s == '\0') return NULL;
    char *nl = strchr(s, '\n');
    if (nl != NULL) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = s + strlen(s);
    }
    return s;
}

/* Apply addr2line's answers to the frames.  Returns frames resolved. */
static size_t apply(rcgc_snapshot *s, pending *p, size_t n, char *text)
{
    size_t resolved = 0;
    char *cur = text;
    for (size_t i = 0; i < n; i++) {
        char *func = next_line(&cur);
        char *loc = next_line(&cur);
        if (func == NULL || loc == NULL) break;
        char *d = strstr(loc, " (discriminator");
        if (d != NULL) *d = '\0';
        char *colon = strrchr(loc, ':');
        unsigned long line = 0;
        if (colon != NULL) {
            *colon = '\0';
            line = strtoul(colon + 1, NULL, 10);
        }
        rcgc_frame *f = p[i].frame;
        if (strcmp(func, "??") != 0) {
            const char *fn = rcgc__snap_intern(s, func);
            if (fn != NULL) f->function = fn;
        }
        if (strcmp(loc, "??") != 0 && line > 0 && line <= UINT32_MAX) {
            const char *file = rcgc__snap_intern(s, loc);
            if (file != NULL) {
                f->filename = file;
                f->lineno = (unsigned)line;
                resolved++;
            }
        }
    }
    return resolved;
}

static int by_module(const void *a, const void *b)
{
    const pending *x = a, *y = b;
    if (x->frame->module != y->frame->module)
        return (uintptr_t)x->frame->module < (uintptr_t)y->frame->module ? -1 : 1;
    return x->address < y->address ? -1 : x->address > y->address;
}

/* The snapshot's recorded identities sorted by path (interned strings:
 * compared by address), the first recorded first among equal paths, so
 * each module is found by a binary search (a hostile file may record many
 * modules and name many). */
static int by_path(const void *a, const void *b)
{
    const rcgc__snap_module *x = *(const rcgc__snap_module *const *)a;
    const rcgc__snap_module *y = *(const rcgc__snap_module *const *)b;
    if (x->path != y->path) return (uintptr_t)x->path < (uintptr_t)y->path ? -1 : 1;
    return x < y ? -1 : x > y;
}

static const rcgc__snap_module *recorded(const rcgc__snap_module *const *sorted,
                                         size_t n, const char *path)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* the first entry whose path is not below path */
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)sorted[mid]->path < (uintptr_t)path) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && sorted[lo]->path == path ? sorted[lo] : NULL;
}

/* Whether the module file open at fd (facts st) may be used: any file for
 * a snapshot of this process or when any is asked for; else only the file
 * whose identity the snapshot's file recorded for path. */
static int module_trusted(const rcgc_snapshot *s,
                          const rcgc__snap_module *const *sorted,
                          const char *path, const rcgc__os_stat *st,
                          unsigned flags)
{
    if (!s->from_file || (flags & RCGC_SYMBOLIZE_ANY_MODULE)) return 1;
    const rcgc__snap_module *m = recorded(sorted, s->nmod, path);
    return m != NULL && m->dev == st->dev && m->ino == st->ino &&
           m->size == st->size && m->mtime_ns == st->mtime_ns;
}

/* The link-time base of module, or -1 when it is not to be used: not a
 * regular ELF64 file, or (*untrusted set) not the file the snapshot
 * recorded. */
static int64_t module_base(const rcgc_snapshot *s,
                           const rcgc__snap_module *const *sorted,
                           const char *module, unsigned flags, int *untrusted)
{
    int fd;
    rcgc__os_stat st;
    *untrusted = 0;
    if (rcgc__os_file_open_regular(module, &fd, &st) != 0) return -1;
    int64_t base = -1;
    if (module_trusted(s, sorted, module, &st, flags)) base = elf_base(fd);
    else *untrusted = 1;
    rcgc__os_close(fd);
    return base;
}

rcgc_ssize rcgc_snapshot_symbolize(rcgc_snapshot *s, char *err,
                                   size_t errlen)
{
    return rcgc_snapshot_symbolize_modules(s, 0, err, errlen);
}

rcgc_ssize rcgc_snapshot_symbolize_modules(rcgc_snapshot *s, unsigned flags,
                                           char *err, size_t errlen)
{
    if (err != NULL && errlen > 0) err[0] = '\0';
    if (s == NULL || (flags & ~(unsigned)RCGC_SYMBOLIZE_ANY_MODULE) != 0)
        return RCGC_EINVAL;
    /* Every C frame not resolved yet: a module, and no line. */
    size_t n = 0;
    for (size_t t = 0; t < s->ntb; t++)
        for (int i = 0; i < s->tbs[t]->nframe; i++) {
            const rcgc_frame *f = &s->tbs[t]->frames[i];
            n += f->module != NULL && f->lineno == 0;
        }
    if (n == 0) return 0;
    rcgc_allocator ua = rcgc_process_allocator_get();
    pending *p = rcgc__umalloc(&ua, n * sizeof *p);
    if (p == NULL) {
        rcgc__set_err(err, errlen, "symbolize: out of memory");
        return RCGC_ENOMEM;
    }
    size_t k = 0;
    for (size_t t = 0; t < s->ntb; t++)
        for (int i = 0; i < s->tbs[t]->nframe; i++) {
            rcgc_frame *f = (rcgc_frame *)&s->tbs[t]->frames[i];
            if (f->module != NULL && f->lineno == 0) {
                p[k].frame = f;
                p[k].address = f->offset;
                k++;
            }
        }
    qsort(p, n, sizeof *p, by_module);
    const rcgc__snap_module **sorted = rcgc__umalloc(&ua, s->nmod * sizeof *sorted);
    if (sorted == NULL) {
        rcgc__ufree(&ua, p);
        rcgc__set_err(err, errlen, "symbolize: out of memory");
        return RCGC_ENOMEM;
    }
    for (size_t i = 0; i < s->nmod; i++) sorted[i] = &s->mods[i];
    qsort(sorted, s->nmod, sizeof *sorted, by_path);
    size_t resolved = 0, untrusted = 0;
    int failed = 0;
    for (size_t a = 0, b; a < n && !failed; a = b) {
        const char *module = p[a].frame->module;
        for (b = a; b < n && p[b].frame->module == module; b++) {
        }
        int other;
        int64_t base = module_base(s, sorted, module, flags, &other);
        untrusted += (size_t)other;
        if (base < 0) continue; /* gone, not ELF, or not the recorded file:
                                   stays module+offset */
        for (size_t i = a; i < b; i++)
            p[i].address = (uint64_t)base + p[i].frame->offset - 1;
        for (size_t c = a; c < b && !failed; c += BATCH) {
            size_t m = b - c < BATCH ? b - c : BATCH;
            char *text = NULL;
            if (run_addr2line(&ua, module, p + c, m, &text, err, errlen) != 0) {
                failed = 1;
                break;
            }
            resolved += apply(s, p + c, m, text);
            free(text); /* the platform's buffer (rcgc__os_run: malloc) */
        }
    }
    rcgc__ufree(&ua, sorted);
    rcgc__ufree(&ua, p);
    if (failed) return RCGC_EFAILED;
    if (untrusted > 0)
        rcgc__set_err(err, errlen, "symbolize: %zu module%s left as module+offset: "
                      "not the file%s this snapshot recorded (taken on another "
                      "machine, or changed since); RCGC_SYMBOLIZE_ANY_MODULE "
                      "(rcgc-snapshot --symbolize-any) uses them anyway",
                      untrusted, untrusted == 1 ? "" : "s", untrusted == 1 ? "" : "s");
    return (rcgc_ssize)resolved;
}
