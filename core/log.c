/* log.c — monotonic time, one-line log messages and the progress bar.
 *
 * The bar has two faces. On a terminal it redraws one line in place ('\r', then the text, then
 * ESC[K to clear what a longer previous line left), at most every 0.1 s. Anywhere else (a log
 * file, a pipe) it never writes '\r' or escape codes: it prints a plain line at most every
 * `plain_every` seconds and one final line with the elapsed time, so logs stay sparse.
 *
 * It does not keep global state, spawn threads or install signal handlers: it draws only when
 * the caller calls us_progress_set or us_progress_end. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

#define TTY_EVERY 0.1           /* seconds between redraws on a terminal */
#define PLAIN_EVERY_DEFAULT 30.0 /* seconds between plain lines off a terminal */

double us_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *level_name(us_log_level lvl) {
    switch (lvl) {
    case US_LOG_ERROR: return "error";
    case US_LOG_WARN: return "warning";
    case US_LOG_INFO: return "info";
    case US_LOG_DEBUG: return "debug";
    }
    return "log";
}

void us_logf(const us_log *log, us_log_level lvl, const char *fmt, ...) {
    FILE *out = log && log->out ? log->out : stderr;
    us_log_level max = log ? log->level : US_LOG_INFO;
    if (lvl > max) return;

    /* Format into a stack buffer first so the line goes out in one write, and so a trailing
     * newline in fmt does not produce an empty line. Longer messages take a heap buffer. */
    char small[1024];
    char *msg = small;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)k >= sizeof small) {
        char *big = malloc((size_t)k + 1);
        if (big) {
            vsnprintf(big, (size_t)k + 1, fmt, ap2);
            msg = big;
        } else {
            k = (int)sizeof small - 1; /* out of memory: keep the truncated text */
        }
    }
    va_end(ap2);
    while (k > 0 && msg[k - 1] == '\n') msg[--k] = '\0';
    fprintf(out, "usersim: %s: %s\n", level_name(lvl), msg);
    fflush(out);
    if (msg != small) free(msg);
}

/* ------------------------------------------------------------------------------------------
 * Progress bar
 * ---------------------------------------------------------------------------------------- */

/* Writes v with thousands separators ("12,345") into buf (at least 27 bytes). */
static void fmt_count(char *buf, uint64_t v) {
    char digits[24];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    int o = 0;
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

/* Writes a duration as "M:SS" or "H:MM:SS" (rounded down to whole seconds). */
static void fmt_clock(char *buf, size_t n, double sec) {
    if (!(sec >= 0)) sec = 0;
    if (sec > 359999999.0) sec = 359999999.0; /* keep the hours field bounded */
    unsigned long s = (unsigned long)sec;
    if (s >= 3600)
        snprintf(buf, n, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, n, "%lu:%02lu", s / 60, s % 60);
}

/* Writes a rate: whole numbers with separators from 100 up, one decimal below. */
static void fmt_rate(char *buf, size_t n, double rate) {
    if (rate >= 100.0 && rate < 1.8e19)
        fmt_count(buf, (uint64_t)rate);
    else
        snprintf(buf, n, "%.1f", rate >= 0 ? rate : 0.0);
}

/* Renders the bar's text (no '\r', no newline) for time `now`. final adds the elapsed time in
 * place of the ETA. */
static void render(const us_progress *p, double now, int final, char *line, size_t n) {
    char done[32], total[32], rate[40], eta[40];
    double elapsed = now - p->t_start;
    /* Units per second over the whole run so far: steadier than the rate since the last draw. */
    double r = elapsed > 1e-9 ? (double)p->done / elapsed : 0.0;
    fmt_count(done, p->done);
    fmt_rate(rate, sizeof rate, r);
    size_t pos = 0;
    int k;
    if (p->total) {
        fmt_count(total, p->total);
        double pct = 100.0 * (double)p->done / (double)p->total;
        k = snprintf(line, n, "%s  %s/%s %s  %.1f%%  %s %s/s", p->label, done, total, p->unit,
                     pct, rate, p->unit);
    } else {
        k = snprintf(line, n, "%s  %s %s  %s %s/s", p->label, done, p->unit, rate, p->unit);
    }
    if (k < 0) return;
    pos = (size_t)k < n ? (size_t)k : n - 1;
    if (final) {
        if (elapsed < 60)
            snprintf(line + pos, n - pos, "  done in %.1f s", elapsed);
        else {
            fmt_clock(eta, sizeof eta, elapsed);
            snprintf(line + pos, n - pos, "  done in %s", eta);
        }
    } else if (p->total && p->done < p->total && r > 0) {
        /* Time left at the average rate so far: (total - done) / rate. */
        fmt_clock(eta, sizeof eta, (double)(p->total - p->done) / r);
        snprintf(line + pos, n - pos, "  ETA %s", eta);
    }
}

static void draw(us_progress *p, double now, int final) {
    char line[512];
    render(p, now, final, line, sizeof line);
    if (p->tty)
        fprintf(p->out, "\r%s\033[K%s", line, final ? "\n" : "");
    else
        fprintf(p->out, "%s\n", line);
    fflush(p->out);
    p->t_last = now;
}

void us_progress_begin(us_progress *p, FILE *out, const char *label, const char *unit,
                       uint64_t total, int quiet) {
    p->out = out ? out : stderr;
    p->label = label ? label : "";
    p->unit = unit ? unit : "";
    p->total = total;
    p->done = 0;
    p->t_start = us_now();
    p->t_last = p->t_start;
    p->plain_every = PLAIN_EVERY_DEFAULT;
    p->quiet = quiet;
    p->tty = !quiet && isatty(fileno(p->out));
    if (p->tty) draw(p, p->t_start, 0); /* show the bar at once on a terminal */
}

void us_progress_set(us_progress *p, uint64_t done) {
    p->done = done;
    if (p->quiet) return;
    double now = us_now(); /* vDSO clock_gettime: tens of nanoseconds */
    double every = p->tty ? TTY_EVERY
                         : (p->plain_every > 0 ? p->plain_every : PLAIN_EVERY_DEFAULT);
    if (now - p->t_last >= every) draw(p, now, 0);
}

void us_progress_end(us_progress *p) {
    if (p->quiet) return;
    draw(p, us_now(), 1);
}
