#ifndef CONVEYOR_PLATFORM_H
#define CONVEYOR_PLATFORM_H
/* Linux calls Swift's Glibc module does not expose. */
int conveyor_set_parent_death_signal(int signal);
/* Names the calling thread (shown by ps -L, top -H, gdb); truncated to 15 bytes. */
void conveyor_set_thread_name(const char *name);
/* The calling thread's kernel id (gettid), as ps -L and top -H show it. */
int conveyor_thread_id(void);
#include <pthread.h>
/* Initialises an adaptive mutex (spins briefly before sleeping), which Swift cannot name. */
int conveyor_adaptive_mutex_init(pthread_mutex_t *mutex);
#endif
