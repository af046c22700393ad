/*
 * What a random cache-line read costs on this machine, by working-set size: the ceiling under
 * storage/pdq.c's radius queries, which read a few thousand scattered lines each (bucket
 * offsets, bucket words, candidate hashes; docs/performance.md, "What bounds a query").
 *
 * For each size, an array of 64-byte lines on 2 MiB pages (as the index's arrays are) is
 * linked into one random cycle. Two walks over it:
 * - chase: one pointer chase, each read waiting for the last: the latency of a read;
 * - streams: 16 independent chases interleaved, as a query's software-pipelined probes are:
 *   the cost per line when the core keeps as many reads in flight as it can.
 * Prints figures; never fails on timing.
 *
 * usage: bench_memlat [--max-mib N]   (largest working set, default 1024)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define LINE 64
#define STREAMS 16
#define STEPS 2000000

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rnd_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* Line i's first word holds the index of the next line of one random cycle over all n. */
static int link_cycle(uint64_t *a, size_t n)
{
    uint32_t *order = malloc(n * sizeof *order);
    if (!order) return -1;
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(rnd() % (i + 1));
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        a[(size_t)order[i] * (LINE / 8)] = order[(i + 1) % n];
    free(order);
    return 0;
}

/* A fresh mapping, 2 MiB-aligned and asking for huge pages, every page touched. */
static uint64_t *map_lines(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    uint8_t *m =
        mmap(NULL, bytes + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    uint8_t *q = (uint8_t *)(((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1));
    size_t head = (size_t)(q - m);
    if (head) munmap(m, head);
    munmap(q + bytes, huge - head); /* bytes is a multiple of 2 MiB */
    (void)madvise(q, bytes, MADV_HUGEPAGE);
    memset(q, 0, bytes);
    return (uint64_t *)q;
}

int main(int argc, char **argv)
{
    size_t max_mib = 1024;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--max-mib") && i + 1 < argc) {
            max_mib = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: bench_memlat [--max-mib N]\n");
            return 2;
        }
    }
    printf("bench_memlat: random 64-byte reads on 2 MiB pages, by working set "
           "(docs/performance.md)\n");
    printf("  %9s  %14s  %22s\n", "MiB", "chase ns/read", "16 streams ns/line");
    uint64_t sink = 0;
    for (size_t mib = 4; mib <= max_mib; mib *= 2) {
        size_t bytes = mib << 20, n = bytes / LINE;
        uint64_t *a = map_lines(bytes);
        if (!a || link_cycle(a, n)) {
            fprintf(stderr, "bench_memlat: no memory for %zu MiB\n", mib);
            return 1;
        }
        size_t p = 0, steps = STEPS;
        for (size_t i = 0; i < steps / 4; i++) /* warm the page tables */
            p = a[p * (LINE / 8)];
        double t0 = now_s();
        for (size_t i = 0; i < steps; i++)
            p = a[p * (LINE / 8)];
        double chase = (now_s() - t0) / (double)steps;
        size_t s[STREAMS];
        for (int k = 0; k < STREAMS; k++) /* spread over the cycle */
            s[k] = a[((size_t)k * (n / STREAMS)) * (LINE / 8)];
        t0 = now_s();
        for (size_t i = 0; i < steps / STREAMS; i++)
            for (int k = 0; k < STREAMS; k++)
                s[k] = a[s[k] * (LINE / 8)];
        double streams = (now_s() - t0) / (double)(steps / STREAMS * STREAMS);
        sink += p;
        for (int k = 0; k < STREAMS; k++)
            sink += s[k];
        printf("  %9zu  %14.1f  %22.1f\n", mib, chase * 1e9, streams * 1e9);
        fflush(stdout);
        munmap(a, bytes);
    }
    /* The walks' results are used, so that the compiler keeps them. */
    printf("  (checksum %llu)\n", (unsigned long long)(sink & 0xff));
    return 0;
}
