/*
 * net.h - vio-perf's net mode (net.c), entered with --net.
 */
#ifndef VIO_PERF_NET_H
#define VIO_PERF_NET_H

/* Runs vio-perf --net with the whole command line; the exit status. */
int net_main(int argc, char **argv);

#endif /* VIO_PERF_NET_H */
