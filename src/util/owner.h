/* owner.h: which process owns a run, and whether that process still lives.
 *
 * An owner is (host, pid, start): `start` identifies the process instance
 * ("BOOT_ID:START_TICKS" from /proc), so a recycled pid or a reboot is not
 * mistaken for the owner. Liveness can only be checked on the same host;
 * an owner on another host counts as alive (its heartbeat is the only
 * evidence there). */
#ifndef BFN_UTIL_OWNER_H
#define BFN_UTIL_OWNER_H

typedef struct {
    char host[128];
    long pid;
    char start[80];
} bfn_owner;

/* This process. */
void bfn_owner_self(bfn_owner *o);
/* 0 if the owner is certainly gone (same host, and no process with that
 * pid and start), 1 otherwise. */
int bfn_owner_alive(const bfn_owner *o);

#endif
