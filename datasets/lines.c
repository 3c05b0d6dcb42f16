/* lines.c — streams a plain or gzip file as lines, in one pass over its raw bytes: each raw
 * block feeds SHA-256 (the file's checksum for the store's provenance) and, for gzip, inflate.
 * Memory is one raw block plus a decoded buffer as long as the longest line, never the file.
 * Works on pipes and FIFOs (one pass, no seeking). It does not parse lines: that is reader.c's
 * and the format parsers' job. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "datasets/internal.h"

#define RAW_BLOCK (256u << 10)
#define BUF_START (1u << 20)

struct us_lines {
    int fd;               /* -1 in memory mode */
    const uint8_t *mem;   /* memory mode: the whole input */
    size_t mem_len, mem_pos;
    char name[256];
    int gz;               /* input is gzip */
    int z_ready;          /* zs initialized */
    z_stream zs;
    int raw_eof;          /* no more raw bytes */
    int z_end;            /* the last gzip member ended cleanly and nothing follows */
    int bad;              /* 1: truncated gzip, 2: corrupt gzip (reported at the end) */
    uint8_t *raw;         /* raw block (gzip only) */
    char *buf;            /* decoded bytes; a line is buf[start..end) */
    size_t cap, start, end, scan;
    size_t max_line;      /* longest line accepted, US_MAX_LINE unless a test sets less */
    int too_long;         /* a line over max_line was met: the input is not read further */
    long lineno;
    int unterminated; /* the last line returned ended at the end of input, not at '\n' */
    uint64_t raw_bytes, bytes, size;
    us_sha256 sha;
};

static us_status lines_new(us_lines **out, const char *name, us_err *err) {
    us_lines *l = calloc(1, sizeof *l);
    if (!l) return us_err_set(err, US_ENOMEM, name, 0, NULL, "out of memory");
    l->fd = -1;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->cap = BUF_START;
    l->max_line = US_MAX_LINE;
    l->buf = malloc(l->cap);
    l->raw = malloc(RAW_BLOCK);
    if (!l->buf || !l->raw || us_sha256_init(&l->sha, NULL) != US_OK) {
        us_lines_close(l);
        return us_err_set(err, US_ENOMEM, name, 0, NULL, "out of memory");
    }
    *out = l;
    return US_OK;
}

/* Reads up to n raw bytes; updates the checksum. Returns bytes read, 0 at end, -1 on error. */
static long raw_read(us_lines *l, uint8_t *dst, size_t n) {
    long got;
    if (l->fd < 0) {
        size_t left = l->mem_len - l->mem_pos;
        got = (long)(n < left ? n : left);
        memcpy(dst, l->mem + l->mem_pos, (size_t)got);
        l->mem_pos += (size_t)got;
    } else {
        do got = read(l->fd, dst, n);
        while (got < 0 && errno == EINTR);
    }
    if (got > 0) {
        us_sha256_update(&l->sha, dst, (size_t)got);
        l->raw_bytes += (uint64_t)got;
    }
    return got;
}

/* Looks at the first raw bytes: gzip magic 1f 8b selects inflate. The bytes read stay in
 * l->raw (gzip) or are copied to the decoded buffer (plain). */
static us_status lines_start(us_lines *l, us_err *err) {
    size_t have = 0;
    while (have < 2) {
        long got = raw_read(l, l->raw + have, RAW_BLOCK - have);
        if (got < 0)
            return us_err_set(err, US_EIO, l->name, 0, NULL, "cannot read: %s", strerror(errno));
        if (got == 0) {
            l->raw_eof = 1;
            break;
        }
        have += (size_t)got;
    }
    l->gz = have >= 2 && l->raw[0] == 0x1f && l->raw[1] == 0x8b;
    if (l->gz) {
        /* 16 + MAX_WBITS: gzip wrapper only, so a zlib or raw stream is reported as corrupt. */
        if (inflateInit2(&l->zs, 16 + MAX_WBITS) != Z_OK)
            return us_err_set(err, US_ENOMEM, l->name, 0, NULL, "cannot start inflate");
        l->z_ready = 1;
        l->zs.next_in = l->raw;
        l->zs.avail_in = (uInt)have;
    } else {
        memcpy(l->buf, l->raw, have);
        l->end = have;
        l->bytes = have;
    }
    return US_OK;
}

us_status us_lines_open(us_lines **out, const char *path, us_err *err) {
    *out = NULL;
    us_lines *l;
    us_status st = lines_new(&l, path, err);
    if (st != US_OK) return st;
    l->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (l->fd < 0) {
        int e = errno;
        us_lines_close(l);
        return us_err_set(err, e == ENOENT ? US_ENOTFOUND : US_EIO, path, 0, NULL,
                          "cannot open: %s", strerror(e));
    }
    struct stat sb;
    if (fstat(l->fd, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            us_lines_close(l);
            return us_err_set(err, US_EIO, path, 0, NULL, "expected a file, found a folder");
        }
        if (S_ISREG(sb.st_mode)) l->size = (uint64_t)sb.st_size;
    }
    if ((st = lines_start(l, err)) != US_OK) {
        us_lines_close(l);
        return st;
    }
    *out = l;
    return US_OK;
}

us_status us_lines_open_mem(us_lines **out, const void *data, size_t n, const char *name,
                            us_err *err) {
    *out = NULL;
    us_lines *l;
    us_status st = lines_new(&l, name, err);
    if (st != US_OK) return st;
    l->mem = data;
    l->mem_len = n;
    l->size = n;
    if ((st = lines_start(l, err)) != US_OK) {
        us_lines_close(l);
        return st;
    }
    *out = l;
    return US_OK;
}

/* Appends decoded bytes to buf[end..cap). Returns bytes added, 0 at the end of input (with
 * l->bad set when the gzip stream was cut or corrupt), -1 on a read error. */
static long fill(us_lines *l) {
    size_t room = l->cap - l->end;
    if (!l->gz) {
        if (l->raw_eof) return 0;
        long got = raw_read(l, (uint8_t *)l->buf + l->end, room);
        if (got == 0) l->raw_eof = 1;
        if (got > 0) l->bytes += (uint64_t)got;
        return got;
    }
    while (!l->z_end && !l->bad) {
        if (l->zs.avail_in == 0 && !l->raw_eof) {
            long got = raw_read(l, l->raw, RAW_BLOCK);
            if (got < 0) return -1;
            if (got == 0) l->raw_eof = 1;
            l->zs.next_in = l->raw;
            l->zs.avail_in = (uInt)got;
        }
        l->zs.next_out = (Bytef *)l->buf + l->end;
        l->zs.avail_out = (uInt)room;
        int zr = inflate(&l->zs, Z_NO_FLUSH);
        size_t made = room - l->zs.avail_out;
        if (zr == Z_STREAM_END) {
            /* Another gzip member may follow (concatenated .gz files are valid gzip). */
            if (l->zs.avail_in == 0 && !l->raw_eof) {
                long got = raw_read(l, l->raw, RAW_BLOCK);
                if (got < 0) return -1;
                if (got == 0) l->raw_eof = 1;
                l->zs.next_in = l->raw;
                l->zs.avail_in = (uInt)got;
            }
            if (l->zs.avail_in == 0) l->z_end = 1;
            else if (l->zs.avail_in >= 2 && l->zs.next_in[0] == 0x1f && l->zs.next_in[1] == 0x8b)
                inflateReset(&l->zs);
            else l->bad = 2; /* bytes after the stream that are not another member */
        } else if (zr == Z_BUF_ERROR && l->zs.avail_in == 0 && l->raw_eof) {
            l->bad = 1; /* the input ended inside a member */
        } else if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_STREAM_ERROR ||
                   zr == Z_MEM_ERROR) {
            l->bad = 2;
        }
        if (made) {
            l->bytes += made;
            return (long)made;
        }
    }
    return 0;
}

void us_lines_set_max_line(us_lines *l, size_t max) { l->max_line = max; }
int us_lines_too_long(const us_lines *l) { return l->too_long; }

/* The error for line lineno + 1, which starts at decoded byte `at` and is longer than the limit
 * (found is how much of it was read). Reading stops there: the rest of such a line may be
 * endless (/dev/zero). */
static int too_long(us_lines *l, size_t found, us_err *err) {
    uint64_t at = l->bytes - (l->end - l->start);
    l->too_long = 1;
    l->start = l->end = l->scan = 0;
    return us_err_set(err, US_EFORMAT, l->name, l->lineno + 1, NULL,
                      "expected a line of at most %zu bytes, found one of %s%zu bytes starting "
                      "at byte offset %llu%s", l->max_line, found > l->max_line ? "over " : "",
                      found, (unsigned long long)at, l->gz ? " of the decompressed data" : "");
}

/* A UTF-8 byte-order mark before the first line (editors and some exports write one) is not
 * part of the first record. */
static void drop_bom(const char *buf, size_t *s, size_t *n) {
    if (*n >= 3 && memcmp(buf + *s, "\xEF\xBB\xBF", 3) == 0) *s += 3, *n -= 3;
}

int us_lines_next(us_lines *l, char **line, size_t *len, us_err *err) {
    if (l->too_long)
        return us_err_set(err, US_EFORMAT, l->name, l->lineno + 1, NULL,
                          "expected a line of at most %zu bytes, found a longer one",
                          l->max_line);
    for (;;) {
        char *nl = memchr(l->buf + l->scan, '\n', l->end - l->scan);
        if (nl) {
            size_t s = l->start, n = (size_t)(nl - l->buf) - s;
            if (n > l->max_line) return too_long(l, n, err);
            l->start = l->scan = (size_t)(nl - l->buf) + 1;
            l->lineno++;
            if (l->lineno == 1) drop_bom(l->buf, &s, &n);
            if (n && l->buf[s + n - 1] == '\r') n--;
            l->buf[s + n] = '\0';
            *line = l->buf + s;
            *len = n;
            return 1;
        }
        l->scan = l->end;
        /* No newline yet: make room, dropping what was consumed. */
        if (l->start > 0) {
            memmove(l->buf, l->buf + l->start, l->end - l->start);
            l->end -= l->start;
            l->scan = l->end;
            l->start = 0;
        }
        if (l->end > l->max_line) return too_long(l, l->end, err);
        if (l->end + 1 >= l->cap) {
            size_t ncap = l->cap * 2;
            char *p = realloc(l->buf, ncap);
            if (!p) return us_err_set(err, US_ENOMEM, l->name, l->lineno + 1, NULL,
                                      "out of memory for a line of %zu bytes", l->end);
            l->buf = p;
            l->cap = ncap;
        }
        /* Keep one byte free for the terminating NUL of a last line without '\n'. */
        l->cap--;
        long got = fill(l);
        l->cap++;
        if (got < 0)
            return us_err_set(err, US_EIO, l->name, l->lineno + 1, NULL, "read error: %s",
                              strerror(errno));
        if (got > 0) {
            l->end += (size_t)got;
            continue;
        }
        /* End of input. */
        if (l->bad) {
            int kind = l->bad;
            l->start = l->end = l->scan = 0;
            l->bad = 0;
            l->z_end = 1;
            return us_err_set(err, US_EFORMAT, l->name, l->lineno + 1, NULL,
                              kind == 1 ? "expected more gzip data, found the end of the file "
                                          "(truncated download?)"
                                        : "expected gzip data, found corrupt bytes");
        }
        if (l->end > l->start) {
            size_t s = l->start, n = l->end - s;
            if (n > l->max_line) return too_long(l, n, err);
            l->start = l->scan = l->end;
            l->lineno++;
            l->unterminated = 1;
            if (l->lineno == 1) drop_bom(l->buf, &s, &n);
            if (n && l->buf[s + n - 1] == '\r') n--;
            l->buf[s + n] = '\0';
            *line = l->buf + s;
            *len = n;
            return 1;
        }
        return 0;
    }
}

long us_lines_lineno(const us_lines *l) { return l->lineno; }
int us_lines_unterminated(const us_lines *l) { return l->unterminated; }
uint64_t us_lines_raw_bytes(const us_lines *l) { return l->raw_bytes; }
uint64_t us_lines_bytes(const us_lines *l) { return l->bytes; }
uint64_t us_lines_size(const us_lines *l) { return l->size; }

us_status us_lines_sha256(const us_lines *l, char hex[65], us_err *err) {
    us_sha256 copy; /* finishing a copy keeps the running state usable */
    us_status st = us_sha256_copy(&copy, &l->sha, err);
    if (st != US_OK) return st;
    uint8_t d[32];
    us_sha256_final(&copy, d);
    us_sha256_hex(d, hex);
    return US_OK;
}

void us_lines_close(us_lines *l) {
    if (!l) return;
    if (l->fd >= 0) close(l->fd);
    if (l->z_ready) inflateEnd(&l->zs);
    us_sha256_free(&l->sha);
    free(l->raw);
    free(l->buf);
    free(l);
}
