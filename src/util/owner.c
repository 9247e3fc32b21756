/* owner.c: process identity and liveness for run ownership (see owner.h). */
#include "util/owner.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* First line of a small file into buf ("" if unreadable). */
static void read_line(const char *path, char *buf, size_t n) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (fgets(buf, (int)n, f)) buf[strcspn(buf, "\n")] = '\0';
    fclose(f);
}

/* Start time of process pid in clock ticks since boot (field 22 of
 * /proc/PID/stat, counted after the parenthesised command name, which may
 * itself hold spaces or parentheses), or "" if there is no such process. */
static void start_ticks(long pid, char *buf, size_t n) {
    char path[64], stat[1024];
    buf[0] = '\0';
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    read_line(path, stat, sizeof stat);
    char *p = strrchr(stat, ')');
    if (!p) return;
    /* after ") " come fields 3, 4, ...: skip to field 22 */
    int field = 2;
    for (p++; *p && field < 21; p++)
        if (*p == ' ') field++;
    if (field != 21) return;
    size_t len = strcspn(p, " ");
    snprintf(buf, n, "%.*s", (int)(len < 30 ? len : 30), p);
}

static void instance_of(long pid, char *buf, size_t n) {
    char boot[64], ticks[32];
    read_line("/proc/sys/kernel/random/boot_id", boot, sizeof boot);
    start_ticks(pid, ticks, sizeof ticks);
    if (ticks[0]) snprintf(buf, n, "%.40s:%.30s", boot, ticks);
    else buf[0] = '\0';
}

void bfn_owner_self(bfn_owner *o) {
    memset(o, 0, sizeof *o);
    if (gethostname(o->host, sizeof o->host - 1) != 0) snprintf(o->host, sizeof o->host, "unknown");
    o->pid = (long)getpid();
    instance_of(o->pid, o->start, sizeof o->start);
}

int bfn_owner_alive(const bfn_owner *o) {
    bfn_owner self;
    bfn_owner_self(&self);
    if (strcmp(o->host, self.host) != 0 || o->pid <= 0) return 1; /* cannot tell from here */
    char now[80];
    instance_of(o->pid, now, sizeof now);
    if (!now[0]) return 0;                         /* no such process */
    return !o->start[0] || strcmp(now, o->start) == 0; /* same pid, other process: gone */
}
