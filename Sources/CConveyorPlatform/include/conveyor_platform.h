#ifndef CONVEYOR_PLATFORM_H
#define CONVEYOR_PLATFORM_H
/* Linux calls Swift's Glibc module does not expose. */
int conveyor_set_parent_death_signal(int signal);
#endif
