/* ckpt.c — checkpoint files of training runs: named sections of bytes and a checksum, written
 * beside the old file and renamed over it, read back whole and verified before anything is
 * used. It does not know what the sections mean: the driver and the learners do.
 *
 * Layout (little-endian, as the machine writes it; a checkpoint moves between x86-64 and
 * arm64 machines, not between byte orders):
 *   "USAGCKP1"                            8 bytes
 *   n sections                            u32
 *   n times: name (32 bytes, NUL-padded), length u64, the bytes
 *   checksum                              u64, us_hash64 of everything before it
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents/internal.h"

#define MAGIC "USAGCKP1"
#define NAME_LEN 32
#define HASH_SEED 0x636b7074u /* "ckpt" */
#define MAX_SECTIONS 64

struct ag_ckpt {
    char *buf; /* the file's bytes (reading) or the sections so far (writing) */
    size_t len, cap;
    int n;
    char names[MAX_SECTIONS][NAME_LEN];
    size_t off[MAX_SECTIONS], size[MAX_SECTIONS]; /* each section's bytes within buf */
};

us_status ag_ckpt_init(ag_ckpt **out, us_err *err) {
    *out = calloc(1, sizeof **out);
    return *out ? US_OK : us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
}

static us_status append(ag_ckpt *ck, const void *data, size_t len) {
    if (us_grow((void **)&ck->buf, &ck->cap, ck->len + len, 1) != US_OK) return US_ENOMEM;
    if (len) memcpy(ck->buf + ck->len, data, len);
    ck->len += len;
    return US_OK;
}

us_status ag_ckpt_put(ag_ckpt *ck, const char *name, const void *data, size_t len, us_err *err) {
    US_ASSERT(strlen(name) < NAME_LEN);
    if (ck->n == MAX_SECTIONS)
        return us_err_set(err, US_EINVAL, NULL, 0, "checkpoint", "more than %d sections",
                          MAX_SECTIONS);
    char nm[NAME_LEN] = {0};
    memcpy(nm, name, strlen(name));
    const uint64_t l = len;
    if (append(ck, nm, NAME_LEN) != US_OK || append(ck, &l, sizeof l) != US_OK)
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    const size_t at = ck->len;
    if (append(ck, data, len) != US_OK)
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    memcpy(ck->names[ck->n], nm, NAME_LEN);
    ck->off[ck->n] = at;
    ck->size[ck->n] = len;
    ck->n++;
    return US_OK;
}

static int write_all(int fd, const void *p, size_t len) {
    const char *c = p;
    while (len > 0) {
        ssize_t w = write(fd, c, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        len -= (size_t)w;
    }
    return 0;
}

us_status ag_ckpt_write(const ag_ckpt *ck, const char *path, us_err *err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    const uint32_t n = (uint32_t)ck->n;
    /* the checksum covers the magic, the count and the sections, in file order */
    char head[12];
    memcpy(head, MAGIC, 8);
    memcpy(head + 8, &n, 4);
    const uint64_t sum = us_hash64(ck->buf, ck->len, us_hash64(head, sizeof head, HASH_SEED));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return us_err_set(err, US_EIO, tmp, 0, NULL, "cannot create: %s", strerror(errno));
    int bad = write_all(fd, head, sizeof head) || write_all(fd, ck->buf, ck->len) ||
              write_all(fd, &sum, sizeof sum) || fsync(fd) != 0;
    bad |= close(fd) != 0;
    if (bad || rename(tmp, path) != 0) {
        const int e = errno;
        unlink(tmp);
        return us_err_set(err, US_EIO, path, 0, NULL, "cannot write the checkpoint: %s",
                          strerror(e));
    }
    return US_OK;
}

us_status ag_ckpt_read(ag_ckpt **out, const char *path, us_err *err) {
    *out = NULL;
    char *data;
    size_t size;
    us_status st = us_read_file(path, 0, &data, &size, err);
    if (st != US_OK) return st;
    ag_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck) {
        free(data);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    }
    ck->buf = data;
    ck->len = size;
#define BAD(field, ...)                                                                    \
    do {                                                                                   \
        ag_ckpt_free(ck);                                                                  \
        return us_err_set(err, US_EFORMAT, path, 0, field, __VA_ARGS__);                   \
    } while (0)
    if (size < 20 || memcmp(data, MAGIC, 8) != 0)
        BAD("magic", "not a usersim checkpoint (expected \"%s\" at the start)", MAGIC);
    uint64_t sum;
    memcpy(&sum, data + size - 8, 8);
    if (us_hash64(data + 12, size - 20, us_hash64(data, 12, HASH_SEED)) != sum)
        BAD("checksum", "the file is truncated or corrupt (its checksum does not match)");
    uint32_t n;
    memcpy(&n, data + 8, 4);
    if (n > MAX_SECTIONS) BAD("sections", "expected at most %d, found %u", MAX_SECTIONS, n);
    size_t at = 12;
    const size_t end = size - 8;
    for (uint32_t k = 0; k < n; k++) {
        if (end - at < NAME_LEN + 8) BAD("sections", "section %u runs past the end", k);
        memcpy(ck->names[k], data + at, NAME_LEN);
        if (ck->names[k][NAME_LEN - 1] != '\0') BAD("sections", "section %u has a bad name", k);
        uint64_t l;
        memcpy(&l, data + at + NAME_LEN, 8);
        at += NAME_LEN + 8;
        if (l > end - at) BAD(ck->names[k], "section runs past the end of the file");
        ck->off[k] = at;
        ck->size[k] = (size_t)l;
        at += (size_t)l;
    }
    if (at != end) BAD("sections", "%zu bytes after the last section", end - at);
    ck->n = (int)n;
#undef BAD
    *out = ck;
    return US_OK;
}

const void *ag_ckpt_get(const ag_ckpt *ck, const char *name, size_t *len) {
    for (int k = 0; k < ck->n; k++)
        if (!strcmp(ck->names[k], name)) {
            if (len) *len = ck->size[k];
            return ck->buf + ck->off[k];
        }
    return NULL;
}

us_status ag_ckpt_take(const ag_ckpt *ck, const char *path, const char *name, void *data,
                       size_t len, us_err *err) {
    size_t have;
    const void *p = ag_ckpt_get(ck, name, &have);
    if (!p) return us_err_set(err, US_EFORMAT, path, 0, name, "section missing");
    if (have != len)
        return us_err_set(err, US_EFORMAT, path, 0, name, "expected %zu bytes, found %zu", len,
                          have);
    memcpy(data, p, len);
    return US_OK;
}

void ag_ckpt_free(ag_ckpt *ck) {
    if (!ck) return;
    free(ck->buf);
    free(ck);
}
