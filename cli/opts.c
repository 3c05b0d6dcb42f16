/* opts.c — the one option parser of the `usersim` commands (cli/cli.h, "declared options"):
 * the command line and the settings file read through each command's table of cli_opt. It
 * does not decide what options mean together (--llm with --builtin, a required store): the
 * commands do, after it. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_opt_index(const cli_cmd *cmd, const char *name) {
    for (int k = 0; cmd->opts[k].name; k++) {
        US_ASSERT(k < CLI_MAX_OPTS); /* cli_parsed.where has room for that many */
        if (!strcmp(cmd->opts[k].name, name)) return k;
    }
    return -1;
}

const char *cli_fmt_double(double x, char *buf, size_t size) {
    if (x == floor(x) && fabs(x) < 1e15) { /* a whole number: its digits, not 6e+01 */
        snprintf(buf, size, "%.0f", x);
        return buf;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, x);
        if (strtod(buf, NULL) == x) break;
    }
    return buf;
}

/* The option's value in settings s as a file would say it ("" when it has none). */
static const char *opt_value(const cli_opt *o, const void *s, char *buf, size_t size) {
    const char *f = (const char *)s + o->off;
    buf[0] = '\0';
    if (o->unset) return buf;
    switch (o->type) {
    case CLI_FLAG:
    case CLI_CALL: snprintf(buf, size, "false"); break;
    case CLI_STR: {
        const char *v;
        memcpy(&v, f, sizeof v);
        snprintf(buf, size, "%s", v ? v : "");
        break;
    }
    case CLI_INT: snprintf(buf, size, "%d", *(const int *)(const void *)f); break;
    case CLI_U32: snprintf(buf, size, "%u", (unsigned)*(const uint32_t *)(const void *)f); break;
    case CLI_U64:
        snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)(const void *)f);
        break;
    case CLI_LONG: snprintf(buf, size, "%ld", *(const long *)(const void *)f); break;
    case CLI_DOUBLE: cli_fmt_double(*(const double *)(const void *)f, buf, size); break;
    case CLI_CHOICE: snprintf(buf, size, "%s", o->choices[*(const int *)(const void *)f]); break;
    case CLI_LIST: break;
    }
    return buf;
}

/* What the option accepts, for an error message. */
static const char *expected(const cli_opt *o, char *buf, size_t size) {
    char lo[40], hi[40];
    switch (o->type) {
    case CLI_FLAG:
    case CLI_CALL: return "true or false";
    case CLI_STR:
    case CLI_LIST: return "a value";
    case CLI_CHOICE: {
        size_t n = 0;
        buf[0] = '\0';
        for (int k = 0; o->choices[k]; k++)
            n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s",
                                  k == 0 ? "" : o->choices[k + 1] ? ", " : " or ", o->choices[k]);
        return buf;
    }
    case CLI_DOUBLE:
        snprintf(buf, size, "a number in %s%s, %s%s", o->flags & CLI_OPEN_LO ? "(" : "[",
                 cli_fmt_double(o->lo, lo, sizeof lo), cli_fmt_double(o->hi, hi, sizeof hi),
                 o->flags & CLI_OPEN_HI ? ")" : "]");
        return buf;
    default:
        snprintf(buf, size, "a whole number from %s to %s", cli_fmt_double(o->lo, lo, sizeof lo),
                 cli_fmt_double(o->hi, hi, sizeof hi));
        return buf;
    }
}

/* Stores val (NULL for a flag given) into the option's field; -1 with why on a bad value.
 * from_cmdline: a list option's first value there replaces the file's. */
static int opt_apply(const cli_opt *o, void *s, const char *val, int first_on_cmdline,
                     char *why, size_t cap) {
    char *f = (char *)s + o->off, exp[200];
    if (o->type == CLI_FLAG) {
        *(int *)(void *)f = o->set;
        return 0;
    }
    if (o->type == CLI_CALL) {
        o->call(s);
        return 0;
    }
    if (o->type == CLI_STR) {
        memcpy(f, &val, sizeof val);
        return 0;
    }
    if (o->type == CLI_LIST) {
        cli_list *l = (cli_list *)(void *)f;
        if (first_on_cmdline) l->n = 0;
        if (l->n == CLI_LIST_MAX)
            return snprintf(why, cap, "at most %d values, found more: '%s'", CLI_LIST_MAX, val),
                   -1;
        l->v[l->n++] = val;
        return 0;
    }
    if (o->type == CLI_CHOICE) {
        for (int k = 0; o->choices[k]; k++)
            if (!strcmp(o->choices[k], val)) {
                *(int *)(void *)f = k;
                return 0;
            }
        return snprintf(why, cap, "expected %s, found \"%s\"", expected(o, exp, sizeof exp),
                        val), -1;
    }
    double x = 0;
    uint64_t u = 0;
    int ok;
    if (o->type == CLI_DOUBLE) {
        char *end;
        errno = 0;
        x = strtod(val, &end);
        ok = end != val && !*end && isfinite(x) && (o->flags & CLI_OPEN_LO ? x > o->lo : x >= o->lo) &&
             (o->flags & CLI_OPEN_HI ? x < o->hi : x <= o->hi);
    } else {
        ok = cli_parse_u64(val, &u) == 0 && (double)u >= o->lo && (double)u <= o->hi;
    }
    if (!ok)
        return snprintf(why, cap, "expected %s, found '%s'", expected(o, exp, sizeof exp), val),
               -1;
    switch (o->type) {
    case CLI_DOUBLE: *(double *)(void *)f = x; break;
    case CLI_INT: *(int *)(void *)f = (int)u; break;
    case CLI_U32: *(uint32_t *)(void *)f = (uint32_t)u; break;
    case CLI_U64: *(uint64_t *)(void *)f = u; break;
    case CLI_LONG: *(long *)(void *)f = (long)u; break;
    default: break;
    }
    return 0;
}

/* The command-line option named like `a` ("--name" or "--name=value"): its index, or -1. */
static int find_long(const cli_cmd *cmd, const char *name, size_t len) {
    for (int k = 0; cmd->opts[k].name; k++)
        if (strlen(cmd->opts[k].name) == len && !strncmp(cmd->opts[k].name, name, len)) return k;
    return -1;
}

/* 1 when some command's table has a setting called key. */
static int any_command_has(const char *key) {
    for (int c = 0; cli_commands[c]; c++) {
        const int k = cli_opt_index(cli_commands[c], key);
        if (k >= 0 && !(cli_commands[c]->opts[k].flags & CLI_CMDLINE)) return 1;
    }
    return 0;
}

static int file_error(const char *path, long line, const char *key, const char *why) {
    us_err err;
    us_err_set(&err, US_EINVAL, path, line, key, "%s", why);
    return cli_fail(&err);
}

/* The files' texts: values point into them, so they stay for the life of the process (a
 * command nests others at most a few deep: build runs extract, embed, train-sasrec). */
static char *texts[16];
static int n_texts;

/* The settings file: `key = value` lines, '#' comments, [sections]. Keys before the first
 * section are shared: each command takes those it has (a key no command has is an error).
 * [CMD] holds CMD's settings; [CMD.SUB] lines go to p->extra for the command. A section of
 * another command is skipped. An empty value leaves the default. 0, or 1 after printing. */
static int read_file(const cli_cmd *cmd, const char *path, void *s, cli_parsed *p) {
    us_err err;
    if (n_texts == 16) {
        us_err_set(&err, US_EINVAL, path, 0, NULL, "settings files read too often in one run");
        return cli_fail(&err);
    }
    if (us_read_file(path, 1 << 20, &p->text, NULL, &err) != US_OK) return cli_fail(&err);
    texts[n_texts++] = p->text;
    p->config = path;
    const size_t clen = strlen(cmd->name);
    int mine = 1, shared = 1;
    const char *sub = NULL;
    long line = 0;
    char why[300];
    for (char *q = p->text, *next; q; q = next) {
        line++;
        next = strchr(q, '\n');
        if (next) *next++ = '\0';
        char *hash = strchr(q, '#');
        if (hash) *hash = '\0';
        while (*q == ' ' || *q == '\t') q++;
        char *e = q + strlen(q);
        while (e > q && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = '\0';
        if (!*q) continue;
        if (*q == '[') {
            if (e[-1] != ']') return file_error(path, line, q, "expected [section]");
            e[-1] = '\0';
            char *name = q + 1;
            char *dot = strchr(name, '.');
            if (dot) *dot = '\0';
            /* [CMD], or [CMD.SUB] for a command that reads subsections (train's agents) */
            int known = 0;
            for (int c = 0; cli_commands[c]; c++)
                known |= !strcmp(cli_commands[c]->name, name) &&
                         (!dot || (dot[1] && cli_commands[c]->extra_ok));
            if (!known) {
                if (dot) *dot = '.';
                snprintf(why, sizeof why, "not a usersim command's section (usersim config "
                         "--defaults lists them)");
                return file_error(path, line, name, why);
            }
            shared = 0;
            mine = !strncmp(name, cmd->name, clen) && !name[clen];
            sub = dot ? dot + 1 : NULL;
            continue;
        }
        if (!mine && !shared) continue;
        char *eq = strchr(q, '=');
        if (!eq) return file_error(path, line, q, "expected 'key = value'");
        char *key = q, *val = eq + 1;
        *eq = '\0';
        for (char *k = eq; k > key && (k[-1] == ' ' || k[-1] == '\t');) *--k = '\0';
        while (*val == ' ' || *val == '\t') val++;
        if (sub) {
            if (p->nextra == CLI_MAX_EXTRA) return file_error(path, line, key, "too many settings");
            p->extra[p->nextra++] = (cli_extra){sub, key, val, line};
            continue;
        }
        const int k = cli_opt_index(cmd, key);
        const cli_opt *o = k >= 0 ? &cmd->opts[k] : NULL;
        if (!o || o->flags & CLI_CMDLINE) {
            if (shared && any_command_has(key)) continue;
            if (o)
                snprintf(why, sizeof why, "only on the command line of usersim %s, not a setting",
                         cmd->name);
            else if (shared)
                snprintf(why, sizeof why, "not a setting of usersim %s nor of any other command "
                         "(usersim config --defaults lists them)", cmd->name);
            else
                snprintf(why, sizeof why, "not a setting of usersim %s (usersim %s --help lists "
                         "them)", cmd->name, cmd->name);
            return file_error(path, line, key, why);
        }
        if (!*val) continue; /* no value: the default */
        if (o->env) {
            const char *ev = getenv(o->env);
            if (ev && ev[0]) continue; /* the environment says it */
        }
        if (o->type == CLI_FLAG || o->type == CLI_CALL) {
            const int yes = !strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes");
            if (!yes && strcmp(val, "false") && strcmp(val, "0") && strcmp(val, "no")) {
                snprintf(why, sizeof why, "expected true or false, found '%s'", val);
                return file_error(path, line, key, why);
            }
            if (!yes) continue;
        }
        if (opt_apply(o, s, val, 0, why, sizeof why) != 0)
            return file_error(path, line, key, why);
        p->where[k] = CLI_FROM_FILE;
    }
    return 0;
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv, void *s, cli_parsed *p) {
    memset(p, 0, sizeof *p);
    cmd->init(s);
    /* First the command line's shape: --help, --config, unknown options, values. */
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) break;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_print_help(cmd, stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1]) continue;
        if (a[1] != '-') return cli_usage_error(cmd->name, "unknown option '%s'", a);
        const char *eq = strchr(a + 2, '=');
        const size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const int k = find_long(cmd, a + 2, len);
        const int has_value = k < 0 ? 1 : cmd->opts[k].arg != NULL;
        const int is_config = len == 6 && !strncmp(a + 2, "config", 6);
        if (k < 0 && !is_config && !cmd->extra_ok)
            return cli_usage_error(cmd->name, "unknown option '%s'", a);
        if (!has_value && eq && !is_config)
            return cli_usage_error(cmd->name, "%s takes no value", a);
        if ((has_value || is_config) && !eq) {
            if (i + 1 >= argc) return cli_usage_error(cmd->name, "%s needs a value", a);
            i++;
        }
        if (is_config) config = eq ? eq + 1 : argv[i];
    }
    /* Then the file: --config, else $USERSIM_CONFIG. */
    if (!config) config = getenv("USERSIM_CONFIG");
    if (config && config[0] && read_file(cmd, config, s, p) != 0) return 1;
    /* Then the command line, in order. */
    int first[CLI_MAX_OPTS] = {0};
    char why[300];
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "--")) {
            while (++i < argc)
                if (p->npos < CLI_MAX_POS) p->pos[p->npos++] = argv[i];
            break;
        }
        if (a[0] != '-' || !a[1]) {
            if (p->npos == CLI_MAX_POS)
                return cli_usage_error(cmd->name, "too many arguments: '%s'", a);
            p->pos[p->npos++] = a;
            continue;
        }
        const char *eq = strchr(a + 2, '=');
        const size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const int k = find_long(cmd, a + 2, len);
        const char *val = NULL;
        if (k < 0 || cmd->opts[k].arg) val = eq ? eq + 1 : argv[++i];
        if (len == 6 && !strncmp(a + 2, "config", 6)) continue;
        if (k < 0) { /* cmd->extra_ok: the command reads it */
            if (p->nextra == CLI_MAX_EXTRA)
                return cli_usage_error(cmd->name, "too many options: '%s'", a);
            char *name = a + 2;
            if (eq) name[len] = '\0'; /* the '=' */
            p->extra[p->nextra++] = (cli_extra){NULL, name, val, 0};
            continue;
        }
        const cli_opt *o = &cmd->opts[k];
        if (o->flags & CLI_HIDDEN && o->alias) {
            char old[80], now[80];
            snprintf(old, sizeof old, "--%s", o->name);
            snprintf(now, sizeof now, "--%s", o->alias);
            cli_deprecated(cmd->name, old, now);
        }
        if (opt_apply(o, s, val, !first[k], why, sizeof why) != 0) {
            char msg[400];
            snprintf(msg, sizeof msg, "--%s: %s", o->name, why);
            return cli_usage_error(cmd->name, "%s", msg);
        }
        first[k] = 1;
        p->where[k] = CLI_FROM_CMDLINE;
    }
    return -1;
}

/* One option's --help entry: "  --name ARG" then its help, the default after its last line. */
static void print_opt(const cli_opt *o, const void *s, FILE *f) {
    char head[96], val[512];
    snprintf(head, sizeof head, "  --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    if (strlen(head) > 17) fprintf(f, "%s\n%-19s", head, "");
    else fprintf(f, "%-19s", head);
    for (const char *h = o->help; *h; h++) {
        fputc(*h, f);
        if (*h == '\n') fprintf(f, "%-19s", "");
    }
    opt_value(o, s, val, sizeof val);
    if (o->unset) fprintf(f, " (default: %s)", o->unset);
    else if (!(o->flags & CLI_CMDLINE) && o->type != CLI_FLAG && o->type != CLI_CALL && val[0])
        fprintf(f, " (default: %s)", val);
    if (o->env) fprintf(f, " (environment: %s)", o->env);
    fputc('\n', f);
}

void cli_print_help(const cli_cmd *cmd, FILE *f) {
    _Alignas(max_align_t) char s[CLI_SETTINGS_MAX];
    cmd->init(s);
    fputs(cmd->usage, f);
    fputs("\noptions:\n", f);
    for (int k = 0; cmd->opts[k].name; k++)
        if (!(cmd->opts[k].flags & CLI_HIDDEN)) print_opt(&cmd->opts[k], s, f);
    fprintf(f, "  --config FILE    settings from FILE (default: $USERSIM_CONFIG): section [%s] of\n"
            "                   the format `usersim config --defaults` writes. The command line\n"
            "                   wins over the environment, which wins over the file, which wins\n"
            "                   over the defaults above.\n", cmd->name);
    if (cmd->tail) fputs(cmd->tail, f);
}

/* ---- config ---- */

/* The whole of help on one line ('\n' read as a space). */
static void put_one_line(const char *help, FILE *f) {
    for (const char *h = help; *h; h++) fputc(*h == '\n' ? ' ' : *h, f);
}

void cli_print_section(const cli_cmd *cmd, FILE *f) {
    _Alignas(max_align_t) char s[CLI_SETTINGS_MAX];
    char val[512];
    cmd->init(s);
    fprintf(f, "[%s]\n", cmd->name);
    for (int k = 0; cmd->opts[k].name; k++) {
        const cli_opt *o = &cmd->opts[k];
        if (o->flags & CLI_HIDDEN) continue;
        if (o->flags & CLI_CMDLINE) {
            fprintf(f, "# --%s: ", o->name);
            put_one_line(o->help, f);
            fputs(" (command line only)\n", f);
            continue;
        }
        fputs("# ", f);
        put_one_line(o->help, f);
        if (o->unset) fprintf(f, " (default: %s)", o->unset);
        if (o->env) fprintf(f, " (environment: %s)", o->env);
        opt_value(o, s, val, sizeof val);
        fprintf(f, "\n%s =%s%s\n", o->name, val[0] ? " " : "", val);
    }
}
