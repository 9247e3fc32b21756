/* sweep_progress.c: a sweep run's progress from its log (sweep_progress.h). */
#include "run/sweep_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *bfn_sweep_results_dir(void) {
    const char *res = getenv("BFN_RESULTS");
    return res && *res ? res : "results";
}

void bfn_sweep_log_path(const char *name, char *out, size_t n) {
    snprintf(out, n, "%s/logs/%s.log", bfn_sweep_results_dir(), name);
}

/* The last `n - 1` bytes of the file (NUL-terminated) in buf; returns the length. */
static size_t tail(const char *path, char *buf, size_t n) {
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long)n - 1 ? size - ((long)n - 1) : 0;
    fseek(f, from, SEEK_SET);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
    return got;
}

void bfn_sweep_progress(const char *log_path, char *out, size_t n) {
    char buf[8192];
    size_t len = tail(log_path, buf, sizeof buf);
    snprintf(out, n, "starting");
    /* The last non-empty line (a terminal's \r updates never reach a log: the
     * trainer writes whole lines when stderr is not a tty). */
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = '\0';
    if (!len) return;
    char *line = buf + len;
    while (line > buf && line[-1] != '\n' && line[-1] != '\r') line--;
    char *step = strstr(line, "] step ");
    if (step) {
        /* "[KEY] step S/T loss L R steps/s ETA Es" -> "step S/T, ETA Es" */
        long s = 0, t = 0;
        const char *eta = strstr(step, "ETA ");
        if (sscanf(step, "] step %ld/%ld", &s, &t) == 2) {
            snprintf(out, n, "step %ld/%ld%s%s", s, t, eta ? ", " : "", eta ? eta : "");
            return;
        }
    }
    char *close_br = line[0] == '[' ? strchr(line, ']') : NULL;
    snprintf(out, n, "%.100s", close_br ? close_br + 2 : line);
}

const char *bfn_sweep_outcome(const char *log_path, int ok) {
    if (!ok) return "failed";
    char buf[1 << 16];
    tail(log_path, buf, sizeof buf);
    if (strstr(buf, "already finished; skipping training")) return "skipped";
    if (strstr(buf, "resumed at step")) return "resumed";
    return "trained";
}
