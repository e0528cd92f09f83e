#include "cleanup.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* A slot is free (0), being filled or emptied by its owner (1), or holds a
 * name the handler may remove (2).  Only the owner that moved a slot from 0
 * to 1 writes its name, and only while it is 1. */
enum { FREE = 0, BUSY = 1, READY = 2 };
#define SLOTS 64
#define NAME_MAX_LEN 4096

static struct {
    atomic_int state;
    char name[NAME_MAX_LEN];
} slots[SLOTS];

int sl_cleanup_track(const char *path)
{
    size_t n = strlen(path);
    if (n >= NAME_MAX_LEN)
        return -1;
    for (int i = 0; i < SLOTS; i++) {
        int expected = FREE;
        if (atomic_compare_exchange_strong(&slots[i].state, &expected, BUSY)) {
            memcpy(slots[i].name, path, n + 1);
            atomic_store(&slots[i].state, READY);
            return i;
        }
    }
    return -1;
}

void sl_cleanup_drop(int handle)
{
    if (handle >= 0 && handle < SLOTS)
        atomic_store(&slots[handle].state, FREE);
}

/* Async-signal-safe: atomics and unlink only. */
static void remove_all(void)
{
    for (int i = 0; i < SLOTS; i++) {
        int expected = READY;
        if (atomic_compare_exchange_strong(&slots[i].state, &expected, BUSY)) {
            unlink(slots[i].name);
            atomic_store(&slots[i].state, FREE);
        }
    }
}

void sl_cleanup_run(void)
{
    remove_all();
}

/* Removes the files, then dies of the same signal: the default action is
 * restored and the signal raised again, delivered when the handler returns
 * (it is blocked while the handler runs). */
static void on_signal(int sig)
{
    remove_all();
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

void sl_cleanup_install_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigfillset(&sa.sa_mask); /* no other of them interrupts the cleanup */
        sigaction(sigs[i], &sa, NULL);
    }
}
