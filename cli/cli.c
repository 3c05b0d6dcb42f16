/* cli.c — the helpers every command of the `usersim` command line shares (cli/cli.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* The length of the valid UTF-8 sequence at p (1..4), or 0 when p starts an invalid one. */
static size_t utf8_len(const unsigned char *p) {
    const size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
                   : p[0] >= 0xe0 && p[0] <= 0xef ? 3 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
    for (size_t k = 1; k < n; k++)
        if ((p[k] & 0xc0) != 0x80) return 0; /* also stops at the terminating NUL */
    return n && us_utf8_check((const char *)p, n) < 0 ? n : 0;
}

/* The next unit of p: its bytes (*n) and whether they are written escaped. */
static int escaped_unit(const unsigned char *p, size_t *n) {
    *n = utf8_len(p);
    if (!*n) { /* an invalid byte */
        *n = 1;
        return 1;
    }
    return (*n == 1 && (p[0] < 0x20 || p[0] == 0x7f)) || (*n == 2 && p[0] == 0xc2 && p[1] <= 0x9f);
}

const char *cli_escape(const char *s, char *buf, size_t size) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t total = 0, n;
    for (const unsigned char *q = p; *q; q += n) total += escaped_unit(q, &n) ? 4 * n : n;
    /* room for every unit, or for the units that fit before "..." */
    const size_t room = total + 1 <= size ? total : size - 4;
    size_t o = 0;
    for (; *p; p += n) {
        const int esc = escaped_unit(p, &n);
        if (o + (esc ? 4 * n : n) > room) break;
        for (size_t k = 0; k < n; k++) {
            if (esc) {
                buf[o++] = '\\';
                buf[o++] = 'x';
                buf[o++] = hex[p[k] >> 4];
                buf[o++] = hex[p[k] & 15];
            } else {
                buf[o++] = (char)p[k];
            }
        }
    }
    if (*p) memcpy(buf + o, "...", 3), o += 3;
    buf[o] = '\0';
    return buf;
}

int cli_usage_error(const char *cmd, const char *fmt, const char *arg) {
    char safe[1024];
    fprintf(stderr, "usersim %s: ", cmd);
    fprintf(stderr, fmt, cli_escape(arg, safe, sizeof safe));
    fprintf(stderr, "\nTry 'usersim %s --help'.\n", cmd);
    return 2;
}

void cli_deprecated(const char *cmd, const char *old_opt, const char *new_opt) {
    fprintf(stderr, "usersim %s: warning: %s is deprecated and goes in the next release; use %s\n",
            cmd, old_opt, new_opt);
}

int cli_fail(const us_err *err) {
    char buf[1200], safe[4 * 1200];
    fprintf(stderr, "usersim: error: %s\n",
            cli_escape(us_err_str(err, buf, sizeof buf), safe, sizeof safe));
    return 1;
}

/* "1234567" -> "1,234,567" into buf. */
const char *cli_group(uint64_t v, char *buf) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v), o = 0;
    for (int i = 0; i < n; i++) {
        buf[o++] = tmp[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1) buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

int cli_parse_u64(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-') return -1;
    *out = v;
    return 0;
}

void cli_print_json(cJSON *j) {
    char *s = cJSON_Print(j);
    if (s) puts(s);
    cJSON_free(s);
    cJSON_Delete(j);
}
