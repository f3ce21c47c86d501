/*
 * yw_slots.h - a small counting limit on work that is heavy for the CPU or memory
 * (password hashing: argon2id takes 64 MiB and tens of milliseconds), so that such work
 * can never occupy every handler thread of a service. A caller that finds no free slot
 * within its bounded wait is refused, and answers RESOURCE_EXHAUSTED.
 *
 * Thread-safe. Ownership: the caller frees with yw_slots_free after every slot is back.
 */
#ifndef YW_SLOTS_H
#define YW_SLOTS_H

typedef struct yw_slots yw_slots;

/* n slots (at least 1), and at most max_waiters callers waiting for one: past that, a
 * caller is refused at once, so that waiting for heavy work cannot itself take every
 * handler thread. Returns NULL when out of memory. */
yw_slots *yw_slots_new(int n, int max_waiters);

/* Frees. Accepts NULL. */
void yw_slots_free(yw_slots *s);

/* Takes a slot, waiting at most wait_ms. Returns 0, or YW_ELIMIT when none came free or
 * max_waiters callers were already waiting. */
int yw_slots_acquire(yw_slots *s, int wait_ms);

/* Callers waiting for a slot now (for metrics and tests). */
int yw_slots_waiting(yw_slots *s);

/* Gives back a slot taken by yw_slots_acquire. */
void yw_slots_release(yw_slots *s);

#endif
