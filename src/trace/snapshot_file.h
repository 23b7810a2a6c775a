/*
 * snapshot_file.h - what the snapshot file's writer (snapshot_write.c) and
 * loader (snapshot_read.c) share: the format's constants, its little-endian
 * fields and its CRC-32.  The format (docs/tracer.md, "Snapshot file
 * format"), a versioned little-endian binary file:
 *
 *   header   "RCGCSNAP", u32 version, u32 flags, u64 body size
 *   body     u32 traceback limit, u64 sample bytes,
 *            u32 nstring, { u32 length, bytes }...
 *            u32 ntraceback, { u32 nframe, u32 total_nframe,
 *                              { u32 filename, u32 lineno, u32 function,
 *                                u32 module, u64 offset }... }...
 *            u64 ntrace, { u32 traceback, u32 domain, u64 size,
 *                          [f64 est_size, f64 est_count] }...
 *            [u32 nmodule, { u32 path, u64 dev, u64 ino, u64 size,
 *                            i64 mtime_ns }...]
 *   trailer  u32 CRC-32 (zlib's) of every byte before it
 *
 * String references are indexes into the string table; NO_STRING stands
 * for a missing function or module.  The estimates are present when flag
 * bit 0 is set (sampled snapshots, or any trace whose estimate is not its
 * own size and 1).  The module table is present when flag bit 1 is set: the
 * identity of each module file named by a frame, as it was when the
 * snapshot was dumped in the process that took it, so that symbolizing
 * elsewhere or later uses only the same files (symbolize.c).
 */
#ifndef RCGC_SNAPSHOT_FILE_H
#define RCGC_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SNAP_MAGIC "RCGCSNAP"
#define SNAP_VERSION 1u
#define HEADER_SIZE 24u
#define TRAILER_SIZE 4u
#define FLAG_ESTIMATES 1u
#define FLAG_MODULES 2u
#define KNOWN_FLAGS (FLAG_ESTIMATES | FLAG_MODULES)
#define NO_STRING 0xFFFFFFFFu
#define MAX_U16 65535u
#define SIZE_LIMIT ((uint64_t)1 << 48)
#define FRAME_SIZE 24u      /* bytes of a frame record */
#define TB_MIN_SIZE 8u      /* bytes of a traceback record without frames */
#define TRACE_SIZE 16u      /* bytes of a trace record without estimates */
#define EST_SIZE 16u        /* the estimates' bytes */
#define MOD_SIZE 36u        /* bytes of a module record */

/* ---- CRC-32 (the zlib / PNG polynomial, reflected) ---- */

struct crc {
    uint32_t table[256];
    uint32_t value;
};

/* The table is built per use (2 K steps): no shared state to initialise. */
static inline void crc_init(struct crc *c)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t v = n;
        for (int k = 0; k < 8; k++) v = v & 1 ? 0xEDB88320u ^ (v >> 1) : v >> 1;
        c->table[n] = v;
    }
    c->value = 0xFFFFFFFFu;
}

static inline void crc_add(struct crc *c, const unsigned char *p, size_t n)
{
    uint32_t v = c->value;
    for (size_t i = 0; i < n; i++) v = c->table[(v ^ p[i]) & 0xFF] ^ (v >> 8);
    c->value = v;
}

static inline uint32_t crc_end(const struct crc *c) { return c->value ^ 0xFFFFFFFFu; }

/* ---- little-endian fields ---- */

static inline void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static inline uint64_t f64_bits(double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    return v;
}

static inline double bits_f64(uint64_t v)
{
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

#endif
