/* bench_bert — sentence-encoder throughput (sentences/s) of the C BERT on all-MiniLM-L6-v2, at
 * 1 and 2 OpenBLAS threads and batch sizes 1 and 64, on a fixed set of short texts (keyword
 * phrases and review sentences), and the ratio to the reference implementation measured in
 * the same run on the same texts, batch sizes and thread counts: sentence-transformers on
 * PyTorch (CPU, float32, torch.set_num_threads). The reference runs where it is installed: the
 * Python in USERSIM_REF_PYTHON, else python3, must import sentence_transformers; otherwise
 * the ratio is skipped and the reason printed. Without the model (make models) the whole bench
 * is skipped. Each measurement repeats the set until BENCH_BERT_SECONDS (default 1.5) passed;
 * C and the reference take turns, setting by setting, for two rounds, and the best round of
 * each counts, so that both see the same machine (it may be shared with other work).
 */
#include <cblas.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "simulator/embed/bert.h"

static const char *const k_adj[] = {"great", "poor", "excellent", "cheap", "sturdy", "flimsy",
                                    "fast", "slow", "comfortable", "noisy", "bright", "weak"};
static const char *const k_noun[] = {
    "sound quality", "battery life", "delivery",     "customer service", "build quality",
    "fit",           "screen",       "instructions", "packaging",        "price",
    "charging cable", "fabric",      "zipper",       "handle",           "speaker"};
static const char *const k_tmpl[] = {
    "The %s is %s and I would buy it again.",
    "After two weeks of daily use the %s still feels %s.",
    "Honestly the %s was %s, which I did not expect at this price.",
    "My kids love it, but the %s is a bit %s compared to the old one.",
    "Returned it because the %s was %s out of the box.",
    "%s %s, arrived on time, works as described."};

enum { N_KEYWORDS = 64, N_SENTENCES = 64, N_TEXTS = N_KEYWORDS + N_SENTENCES };

/* The fixed texts: keyword phrases ("great sound quality") and review sentences. */
static void make_texts(char texts[N_TEXTS][160]) {
    const int na = sizeof k_adj / sizeof k_adj[0], nn = sizeof k_noun / sizeof k_noun[0];
    const int nt = sizeof k_tmpl / sizeof k_tmpl[0];
    for (int i = 0; i < N_KEYWORDS; i++)
        snprintf(texts[i], 160, "%s %s", k_adj[i % na], k_noun[(i * 7) % nn]);
    for (int i = 0; i < N_SENTENCES; i++) {
        const char *t = k_tmpl[i % nt], *noun = k_noun[(i * 4 + 1) % nn];
        const char *adj = k_adj[(i * 5) % na];
        if (i % nt == nt - 1)
            snprintf(texts[N_KEYWORDS + i], 160, t, adj, noun);
        else
            snprintf(texts[N_KEYWORDS + i], 160, t, noun, adj);
    }
}

/* Texts per timed call: the set is cycled through in chunks, so a slow setting overshoots the
 * measuring time by at most one chunk. Batch 64 takes one full pass per chunk. */
static int chunk_of(int batch) { return batch == 1 ? 16 : 64; }

static double c_rate(const us_bert_encoder *enc, us_bert_state *st, int batch,
                     const char *const *texts, float *out, double seconds) {
    const int chunk = chunk_of(batch);
    us_bert_encode(enc, st, texts, chunk, out); /* warm-up */
    double t0 = us_now(), t;
    long n = 0;
    int pos = 0;
    do {
        us_bert_encode(enc, st, texts + pos, chunk, out);
        pos = (pos + chunk) % N_TEXTS;
        n += chunk;
        t = us_now() - t0;
    } while (t < seconds);
    return (double)n / t;
}

/* The reference, a child process that loads the model once, then answers each request line
 * "threads batch" on stdin with one line "sentences_per_s" on stdout. */
static const char k_ref_py[] =
    "import os, sys, time\n"
    "os.environ.setdefault('HF_HUB_OFFLINE', '1')\n"
    "os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')\n"
    "import torch\n"
    "from sentence_transformers import SentenceTransformer\n"
    "model_dir, texts_path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])\n"
    "texts = open(texts_path, encoding='utf-8').read().split('\\n')[:-1]\n"
    "model = SentenceTransformer(model_dir, device='cpu')\n"
    "model.eval()\n"
    "print('ready', flush=True)\n"
    "for line in sys.stdin:\n"
    "    threads, batch = (int(x) for x in line.split())\n"
    "    chunk = 16 if batch == 1 else 64\n"
    "    torch.set_num_threads(threads)\n"
    "    model.encode(texts[:chunk], batch_size=batch)\n"
    "    n, pos, t0 = 0, 0, time.perf_counter()\n"
    "    while True:\n"
    "        model.encode(texts[pos:pos + chunk], batch_size=batch)\n"
    "        pos = (pos + chunk) % len(texts)\n"
    "        n += chunk\n"
    "        t = time.perf_counter() - t0\n"
    "        if t >= seconds: break\n"
    "    print(n / t, flush=True)\n";

typedef struct ref_proc {
    pid_t pid;
    FILE *to, *from;
    char dir[32], script[64], texts[64], errlog[64];
} ref_proc;

/* The last line of the child's stderr, for a failure message. */
static const char *last_line(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    buf[0] = '\0';
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n < 2) continue;
        if (n >= cap) n = cap - 1;
        memcpy(buf, line, n);
        buf[n] = '\0';
    }
    if (f) fclose(f);
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n') buf[n - 1] = '\0';
    return buf;
}

static void ref_stop(ref_proc *r) {
    if (r->to) fclose(r->to);
    if (r->from) fclose(r->from);
    if (r->pid > 0) waitpid(r->pid, NULL, 0);
    unlink(r->script);
    unlink(r->texts);
    unlink(r->errlog);
    rmdir(r->dir);
}

/* Starts the reference; 1 when it loaded the model, else 0 with why. */
static int ref_start(ref_proc *r, const char *model_dir, char texts[N_TEXTS][160],
                     double seconds, char *why, size_t cap) {
    memset(r, 0, sizeof *r);
    const char *py = getenv("USERSIM_REF_PYTHON");
    if (!py || !*py) py = "python3";
    snprintf(r->dir, sizeof r->dir, "/tmp/bench_bert_XXXXXX");
    if (!mkdtemp(r->dir)) {
        snprintf(why, cap, "cannot make a temporary folder");
        return 0;
    }
    snprintf(r->script, sizeof r->script, "%s/ref.py", r->dir);
    snprintf(r->texts, sizeof r->texts, "%s/texts.txt", r->dir);
    snprintf(r->errlog, sizeof r->errlog, "%s/stderr.txt", r->dir);
    FILE *f = fopen(r->script, "w"), *g = fopen(r->texts, "w");
    if (f) fputs(k_ref_py, f);
    for (int i = 0; g && i < N_TEXTS; i++) fprintf(g, "%s\n", texts[i]);
    if (f) fclose(f);
    if (g) fclose(g);
    /* First: can it import the package at all? */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import sentence_transformers' >/dev/null 2>&1", py);
    if (system(cmd) != 0) {
        snprintf(why, cap,
                 "%s cannot import sentence_transformers (set USERSIM_REF_PYTHON to a Python "
                 "that has it)",
                 py);
        ref_stop(r);
        return 0;
    }
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) {
        snprintf(why, cap, "pipe failed");
        ref_stop(r);
        return 0;
    }
    char secs[32];
    snprintf(secs, sizeof secs, "%g", seconds);
    fflush(stdout);
    r->pid = fork();
    if (r->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        int e = open(r->errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (e >= 0) dup2(e, 2);
        close(in[1]);
        close(out[0]);
        execlp(py, py, r->script, model_dir, r->texts, secs, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    r->to = fdopen(in[1], "w");
    r->from = fdopen(out[0], "r");
    char line[256];
    if (r->pid < 0 || !r->to || !r->from || !fgets(line, sizeof line, r->from) ||
        strncmp(line, "ready", 5) != 0) {
        char last[300];
        snprintf(why, cap, "the reference did not start: %s",
                 last_line(r->errlog, last, sizeof last));
        ref_stop(r);
        return 0;
    }
    return 1;
}

/* One reference measurement; a negative rate when the child failed. */
static double ref_rate(ref_proc *r, int threads, int batch) {
    char line[256];
    fprintf(r->to, "%d %d\n", threads, batch);
    fflush(r->to);
    if (!fgets(line, sizeof line, r->from)) return -1.0;
    return atof(line);
}

int main(void) {
    const char *model_dir = us_embed_model_dir();
    const char *sec_env = getenv("BENCH_BERT_SECONDS");
    double seconds = sec_env && *sec_env ? atof(sec_env) : 1.5;
    if (seconds <= 0) seconds = 1.5;
    us_err e;
    us_bert_encoder *enc = NULL;
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", model_dir);
    if (access(path, R_OK) != 0) {
        printf("bench_bert: skipped: %s is absent (make models)\n", path);
        return 0;
    }
    if (us_bert_open(&enc, model_dir, &e) != US_OK) {
        char b[1200];
        fprintf(stderr, "bench_bert: %s\n", us_err_str(&e, b, sizeof b));
        return 1;
    }
    us_bert_state *st1 = NULL, *st64 = NULL;
    if (us_bert_state_init(&st1, enc, 1, 0, &e) != US_OK ||
        us_bert_state_init(&st64, enc, 64, 0, &e) != US_OK) {
        fprintf(stderr, "bench_bert: out of memory\n");
        return 1;
    }
    static char texts[N_TEXTS][160];
    make_texts(texts);
    const char *ptrs[N_TEXTS];
    long tokens = 0;
    for (int i = 0; i < N_TEXTS; i++) {
        ptrs[i] = texts[i];
        int32_t ids[256];
        tokens += us_tokenizer_encode(us_bert_tokenizer(enc), texts[i], strlen(texts[i]), ids,
                                      NULL, 256);
    }
    float *out = malloc((size_t)N_TEXTS * us_bert_dim(enc) * sizeof(float));
    if (!out) return 1;
    printf("bench_bert: %s, %d texts (%d keyword phrases, %d review sentences), %.1f tokens "
           "on average with [CLS] and [SEP]; %.1f s per measurement\n",
           us_bert_name(enc), N_TEXTS, N_KEYWORDS, N_SENTENCES, (double)tokens / N_TEXTS,
           seconds);
    /* C and the reference take turns on each setting, twice over; the best of the two
     * rounds counts on each side (a machine shared with other work only slows runs down). */
    ref_proc ref_p;
    char why[512];
    int have_ref = ref_start(&ref_p, model_dir, texts, seconds, why, sizeof why);
    double c[2][2] = {{0}}, ref[2][2] = {{0}};
    for (int round = 0; round < 2; round++)
        for (int th = 1; th <= 2; th++)
            for (int b = 0; b < 2; b++) {
                openblas_set_num_threads(th);
                double x = c_rate(enc, b ? st64 : st1, b ? 64 : 1, ptrs, out, seconds);
                if (x > c[th - 1][b]) c[th - 1][b] = x;
                if (!have_ref) continue;
                double y = ref_rate(&ref_p, th, b ? 64 : 1);
                if (y < 0) {
                    char last[300];
                    snprintf(why, sizeof why, "the reference failed: %s",
                             last_line(ref_p.errlog, last, sizeof last));
                    have_ref = 0;
                }
                if (y > ref[th - 1][b]) ref[th - 1][b] = y;
            }
    if (ref_p.dir[0]) ref_stop(&ref_p);
    printf("  %-8s %-6s %14s %18s %8s\n", "threads", "batch", "C sentences/s",
           "reference sent/s", "ratio");
    for (int th = 1; th <= 2; th++)
        for (int b = 0; b < 2; b++) {
            if (have_ref)
                printf("  %-8d %-6d %14.1f %18.1f %8.2f\n", th, b ? 64 : 1, c[th - 1][b],
                       ref[th - 1][b], c[th - 1][b] / ref[th - 1][b]);
            else
                printf("  %-8d %-6d %14.1f %18s %8s\n", th, b ? 64 : 1, c[th - 1][b], "-", "-");
        }
    if (have_ref)
        printf("  reference: sentence-transformers on PyTorch (CPU), same texts, batch sizes and "
               "thread counts, measured in turn with C; best of 2 rounds each; ratio = C / "
               "reference\n");
    else
        printf("  ratio skipped: %s\n", why);
    free(out);
    us_bert_state_free(st1);
    us_bert_state_free(st64);
    us_bert_close(enc);
    return 0;
}
