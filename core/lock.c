/* lock.c — the writer lock of a store: an exclusive flock(2) on "<store>.lock" beside it, with
 * the holder's pid written in it so that a refused writer can say who holds it. The kernel drops
 * the lock when its holder exits, however it exits, so a crashed writer never blocks the next
 * one. Not a lock against readers: a store is replaced by rename, so readers never need one. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

/* The locks this process holds, so that a thread which holds one can take it again (a command
 * that runs other commands on the same store) instead of refusing itself. */
struct us_store_lock {
    struct us_store_lock *next;
    char *path; /* the lock file */
    int fd;
    dev_t dev;
    ino_t ino;
    pid_t pid;       /* the process that took it: a forked child inherits this list, but the
                        lock is not its own to nest in */
    pthread_t owner;
    int depth;
};

static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;
static us_store_lock *held;

/* The pid written in the lock file at fd, or 0 when it holds none (yet). */
static long holder_pid(int fd) {
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    return end != buf && pid > 0 ? pid : 0;
}

static us_status busy(us_err *err, const char *store, long pid) {
    if (pid > 0)
        return us_err_set(err, US_EIO, store, 0, NULL,
                          "another usersim is writing %s (pid %ld); wait for it to finish",
                          store, pid);
    return us_err_set(err, US_EIO, store, 0, NULL,
                      "another usersim is writing %s; wait for it to finish", store);
}

us_status us_store_lock_acquire(const char *store, us_store_lock **out, us_err *err) {
    *out = NULL;
    size_t n = strlen(store);
    char *path = malloc(n + 6);
    if (!path) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    memcpy(path, store, n);
    memcpy(path + n, ".lock", 6);
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            int e = errno;
            free(path);
            return us_err_set(err, US_EIO, store, 0, NULL, "cannot create the lock file %s.lock: %s",
                              store, strerror(e));
        }
        struct stat st;
        if (fstat(fd, &st) != 0) {
            int e = errno;
            close(fd);
            free(path);
            return us_err_set(err, US_EIO, store, 0, NULL, "cannot stat %s.lock: %s", store,
                              strerror(e));
        }
        pthread_mutex_lock(&held_mu);
        us_store_lock *h = held;
        while (h && !(h->pid == getpid() && h->dev == st.st_dev && h->ino == st.st_ino))
            h = h->next;
        if (h) {
            /* Held by this process already; closing this second descriptor leaves the flock of
             * the first in place (flock locks belong to the open file, not the process). */
            int mine = pthread_equal(h->owner, pthread_self());
            if (mine) h->depth++;
            pthread_mutex_unlock(&held_mu);
            close(fd);
            free(path);
            if (!mine) return busy(err, store, (long)getpid());
            *out = h;
            return US_OK;
        }
        pthread_mutex_unlock(&held_mu);
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            long pid = e == EWOULDBLOCK ? holder_pid(fd) : 0;
            close(fd);
            free(path);
            if (e == EWOULDBLOCK) return busy(err, store, pid);
            return us_err_set(err, US_EIO, store, 0, NULL, "cannot lock %s.lock: %s", store,
                              strerror(e));
        }
        /* The holder before us unlinks the file as it releases; if it did between our open and
         * our flock, we hold a lock on a file nobody else will find: try again. */
        struct stat now;
        if (stat(path, &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
            close(fd);
            continue;
        }
        char pid[32];
        int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
            int e = errno;
            close(fd);
            free(path);
            return us_err_set(err, US_EIO, store, 0, NULL, "cannot write %s.lock: %s", store,
                              strerror(e));
        }
        us_store_lock *l = calloc(1, sizeof *l);
        if (!l) {
            unlink(path);
            close(fd);
            free(path);
            return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
        }
        *l = (us_store_lock){.path = path, .fd = fd, .dev = st.st_dev, .ino = st.st_ino,
                             .pid = getpid(), .owner = pthread_self(),
                             .depth = 1};
        pthread_mutex_lock(&held_mu);
        l->next = held;
        held = l;
        pthread_mutex_unlock(&held_mu);
        *out = l;
        return US_OK;
    }
    free(path);
    return busy(err, store, 0);
}

void us_store_lock_release(us_store_lock *lock) {
    if (!lock) return;
    pthread_mutex_lock(&held_mu);
    if (--lock->depth > 0) {
        pthread_mutex_unlock(&held_mu);
        return;
    }
    us_store_lock **p = &held;
    while (*p && *p != lock) p = &(*p)->next;
    if (*p) *p = lock->next;
    pthread_mutex_unlock(&held_mu);
    /* Unlinked while still locked, so no one can lock this file after we let go of it. */
    unlink(lock->path);
    close(lock->fd);
    free(lock->path);
    free(lock);
}
