/*
 * rcgc-snapshot - report on snapshot files written by rcgc_snapshot_dump
 * (docs/rcgc-snapshot.md):
 *
 *   rcgc-snapshot show FILE [options]      the top statistics of a snapshot
 *   rcgc-snapshot diff OLD NEW [options]   NEW compared to OLD
 *
 * Exit status: 0; 1 when a file cannot be read or written (or memory runs
 * out), with "rcgc-snapshot: FILE: WHY" on stderr; 2 for a usage error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_report.h"

#define PROG "rcgc-snapshot"

static const char usage_line[] =
    "usage: rcgc-snapshot show FILE [options] | diff OLD NEW [options]"
    "  (rcgc-snapshot --help)\n";

static const char help_text[] =
    "rcgc-snapshot: report on rcgc tracer snapshot files\n"
    "\n"
    "  rcgc-snapshot show FILE [options]     top statistics of one snapshot\n"
    "  rcgc-snapshot diff OLD NEW [options]  NEW compared to OLD\n"
    "\n"
    "options:\n"
    "  --by lineno|filename|traceback  group allocations by (lineno)\n"
    "  --cumulative                    count every frame of a traceback,\n"
    "                                  not only the most recent one\n"
    "  --top N                         statistics listed (10; 0: all)\n"
    "  --format text|json|html|pprof   output format (text); pprof: an\n"
    "                                  allocation profile (gzipped\n"
    "                                  profile.proto) of every trace, for\n"
    "                                  pprof and speedscope\n"
    "  -o, --output FILE               write there, not to standard output\n"
    "  --include PATTERN[:LINE]        keep traces whose file matches\n"
    "  --exclude PATTERN[:LINE]        drop traces whose file matches\n"
    "  --all-frames                    patterns test every frame, not only\n"
    "                                  the most recent one\n"
    "  --domain D                      keep traces of domain D\n"
    "  --exclude-domain D              drop traces of domain D\n"
    "  --no-symbolize                  leave C stack frames as module+offset\n"
    "                                  (by default addr2line finds their\n"
    "                                  function and file:line in the module\n"
    "                                  files the snapshot recorded)\n"
    "  --symbolize-any                 symbolize with the module files found\n"
    "                                  at their paths even when they are not\n"
    "                                  the ones the snapshot recorded (a\n"
    "                                  snapshot from another machine)\n"
    "  --help, --version\n"
    "\n"
    "Filters repeat; a trace is kept when any --include/--domain matches it\n"
    "(or none is given) and no --exclude/--exclude-domain matches it.\n"
    "Exit status: 0; 1 for an unreadable file; 2 for a usage error.\n";

/* The command line. */
typedef struct cmdline {
    report_options opt;
    const char *output;         /* NULL: standard output */
    rcgc_trace_filter *filters; /* argc entries at most */
    size_t nfilters;
    int all_frames;             /* --all-frames */
    int no_symbolize;           /* --no-symbolize */
    int symbolize_any;          /* --symbolize-any */
    int nfiles;
} cmdline;

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, PROG ": %s%s%s\n%s", what, arg ? ": " : "", arg ? arg : "",
            usage_line);
    return 2;
}

/* A non-negative integer up to max, or -1. */
static long parse_count(const char *s, long max)
{
    char *end;
    if (s[0] < '0' || s[0] > '9') return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || errno != 0 || v > max) return -1;
    return v;
}

static int parse_key(const char *s, rcgc_stat_key *key)
{
    if (strcmp(s, "lineno") == 0) *key = RCGC_BY_LINENO;
    else if (strcmp(s, "filename") == 0) *key = RCGC_BY_FILENAME;
    else if (strcmp(s, "traceback") == 0) *key = RCGC_BY_TRACEBACK;
    else return -1;
    return 0;
}

static int parse_format(const char *s, report_format *fmt)
{
    if (strcmp(s, "text") == 0) *fmt = REPORT_TEXT;
    else if (strcmp(s, "json") == 0) *fmt = REPORT_JSON;
    else if (strcmp(s, "html") == 0) *fmt = REPORT_HTML;
    else if (strcmp(s, "pprof") == 0) *fmt = REPORT_PPROF;
    else return -1;
    return 0;
}

/* PATTERN or PATTERN:LINE (a trailing ":digits" is the line).  The pattern
 * is cut from arg in place: argv's strings are the program's to modify. */
static rcgc_trace_filter pattern_filter(char *arg, int inclusive)
{
    rcgc_trace_filter f = {inclusive, arg, -1, 0, -1};
    char *colon = strrchr(arg, ':');
    if (colon != NULL && colon != arg) {
        long line = parse_count(colon + 1, 0x7fffffffL);
        if (line >= 0) {
            *colon = '\0';
            f.lineno = line;
        }
    }
    return f;
}

static rcgc_trace_filter domain_filter(long domain, int inclusive)
{
    rcgc_trace_filter f = {inclusive, NULL, -1, 0, domain};
    return f;
}

/* One option taking a value (val); 0, or the exit status of a usage error. */
static int option_value(cmdline *c, const char *name, char *val)
{
    long n;
    if (strcmp(name, "--by") == 0) {
        if (parse_key(val, &c->opt.key) != 0)
            return usage_error("--by takes lineno, filename or traceback", val);
    } else if (strcmp(name, "--top") == 0) {
        if ((n = parse_count(val, 0x7fffffffL)) < 0)
            return usage_error("--top takes a count (0: all)", val);
        c->opt.top = n;
    } else if (strcmp(name, "--format") == 0) {
        if (parse_format(val, &c->opt.format) != 0)
            return usage_error("--format takes text, json, html or pprof", val);
    } else if (strcmp(name, "-o") == 0 || strcmp(name, "--output") == 0) {
        c->output = val;
    } else if (strcmp(name, "--include") == 0 || strcmp(name, "--exclude") == 0) {
        if (val[0] == '\0') return usage_error("empty pattern", name);
        c->filters[c->nfilters++] = pattern_filter(val, name[2] == 'i');
    } else if (strcmp(name, "--domain") == 0 ||
               strcmp(name, "--exclude-domain") == 0) {
        if ((n = parse_count(val, 0xffff)) < 0)
            return usage_error("a domain is 0..65535", val);
        c->filters[c->nfilters++] = domain_filter(n, name[2] == 'd');
    } else {
        return usage_error("unknown option", name);
    }
    return 0;
}

static int takes_value(const char *name)
{
    static const char *const names[] = {"--by", "--top", "--format", "-o",
        "--output", "--include", "--exclude", "--domain", "--exclude-domain"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) return 1;
    return 0;
}

/* A positional argument: the files after the command. */
static int positional(cmdline *c, const char *arg)
{
    if (c->nfiles >= 1 + c->opt.is_diff)
        return usage_error("too many files", arg);
    c->opt.files[c->nfiles++] = arg;
    return 0;
}

/* One argument at argv[*i] (advancing past an option's value). */
static int parse_arg(cmdline *c, int argc, char **argv, int *i)
{
    char *arg = argv[*i];
    if (arg[0] != '-' || strcmp(arg, "-") == 0) return positional(c, arg);
    if (strcmp(arg, "--cumulative") == 0) c->opt.cumulative = 1;
    else if (strcmp(arg, "--all-frames") == 0) c->all_frames = 1;
    else if (strcmp(arg, "--no-symbolize") == 0) c->no_symbolize = 1;
    else if (strcmp(arg, "--symbolize-any") == 0) c->symbolize_any = 1;
    else if (strncmp(arg, "--", 2) == 0 && strchr(arg, '=') != NULL) {
        char *eq = strchr(arg, '=');
        *eq = '\0'; /* --name=value */
        if (!takes_value(arg)) return usage_error("unknown option", arg);
        return option_value(c, arg, eq + 1);
    } else if (takes_value(arg)) {
        if (*i + 1 >= argc) return usage_error("missing value for", arg);
        return option_value(c, arg, argv[++*i]);
    } else {
        return usage_error("unknown option", arg);
    }
    return 0;
}

/* 0, -1 after --help or --version (exit 0), or a usage error's status. */
static int parse_cmdline(cmdline *c, int argc, char **argv)
{
    if (argc < 2) return usage_error("missing command", NULL);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(help_text, stdout);
            return -1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf(PROG " (rcgc) %s\n", RCGC_VERSION_STRING);
            return -1;
        }
    }
    if (strcmp(argv[1], "diff") == 0) c->opt.is_diff = 1;
    else if (strcmp(argv[1], "show") != 0)
        return usage_error("unknown command", argv[1]);
    int rc = 0, dashdash = 0;
    for (int i = 2; i < argc && rc == 0; i++) {
        if (!dashdash && strcmp(argv[i], "--") == 0) dashdash = 1;
        else if (dashdash) rc = positional(c, argv[i]);
        else rc = parse_arg(c, argc, argv, &i);
    }
    if (rc != 0) return rc;
    if (c->nfiles != 1 + c->opt.is_diff)
        return usage_error(c->opt.is_diff ? "diff needs OLD and NEW files"
                                          : "show needs one FILE", NULL);
    if (c->opt.cumulative && c->opt.key == RCGC_BY_TRACEBACK)
        return usage_error("--cumulative needs --by lineno or filename", NULL);
    for (size_t k = 0; k < c->nfilters; k++)
        if (c->filters[k].pattern != NULL) c->filters[k].all_frames = c->all_frames;
    return 0;
}

/* "rcgc-snapshot: PATH: [warning: ]WHY" on stderr, the path and the
 * message escaped (a module name from a snapshot may be in it). */
static void file_message(const char *path, const char *kind, const char *why)
{
    fputs(PROG ": ", stderr);
    text_string(stderr, path);
    fprintf(stderr, ": %s", kind);
    text_string(stderr, why);
    fputc('\n', stderr);
}

/* NEW: the snapshot in path with the command line's filters applied, or
 * NULL after a message. */
static rcgc_snapshot *load(const cmdline *c, const char *path)
{
    char err[512];
    rcgc_snapshot *s = rcgc_snapshot_load(path, err, sizeof err);
    if (s == NULL) {
        file_message(path, "", err);
        return NULL;
    }
    /* C stack frames get their function and file:line from the modules'
     * debug information now, at report time; without it they stay
     * module+offset, which is still a usable report. */
    if (!c->no_symbolize &&
        (rcgc_snapshot_symbolize_modules(s, c->symbolize_any ?
                                         RCGC_SYMBOLIZE_ANY_MODULE : 0,
                                         err, sizeof err) < 0 ||
         err[0] != '\0'))
        file_message(path, "warning: ", err);
    if (c->nfilters == 0) return s;
    rcgc_snapshot *kept = rcgc_snapshot_filter(s, c->filters, c->nfilters);
    rcgc_snapshot_free(s);
    if (kept == NULL) file_message(path, "", "out of memory");
    return kept;
}

static int write_report(const report *r, FILE *out)
{
    switch (r->opt->format) {
    case REPORT_JSON: return report_write_json(r, out);
    case REPORT_HTML: return report_write_html(r, out);
    case REPORT_PPROF: return report_write_pprof(r, out);
    default: return report_write_text(r, out);
    }
}

/* Build the report and write it; the exit status. */
static int run(const cmdline *c, const rcgc_snapshot *snap,
               const rcgc_snapshot *old)
{
    report r;
    int rc = report_build(&r, &c->opt, snap, old);
    if (rc != 0) {
        fprintf(stderr, PROG ": %s\n", rcgc_strerror(rc));
        report_free(&r);
        return 1;
    }
    const char *name = c->output != NULL ? c->output : "<stdout>";
    FILE *out = c->output != NULL ? fopen(c->output, "w") : stdout;
    if (out == NULL) {
        fprintf(stderr, PROG ": %s: %s\n", name, strerror(errno));
        report_free(&r);
        return 1;
    }
    rc = write_report(&r, out);
    report_free(&r);
    int failed = ferror(out);
    if (out != stdout ? fclose(out) != 0 : fflush(out) != 0) failed = 1;
    if (rc != 0) fprintf(stderr, PROG ": %s\n", rcgc_strerror(rc));
    else if (failed) fprintf(stderr, PROG ": %s: write error\n", name);
    return rc != 0 || failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    cmdline c = {.opt = {.key = RCGC_BY_LINENO, .top = 10}};
    c.filters = calloc((size_t)argc, sizeof *c.filters);
    if (c.filters == NULL) return 1;
    int rc = parse_cmdline(&c, argc, argv);
    if (rc != 0) {
        free(c.filters);
        return rc < 0 ? 0 : rc;
    }
    rcgc_snapshot *old = NULL, *snap = NULL;
    rc = 1;
    if (c.opt.is_diff && (old = load(&c, c.opt.files[0])) == NULL) goto done;
    if ((snap = load(&c, c.opt.files[c.opt.is_diff])) == NULL) goto done;
    rc = run(&c, snap, old);
done:
    rcgc_snapshot_free(snap);
    rcgc_snapshot_free(old);
    free(c.filters);
    return rc;
}
