// FAISS from Debian (libfaiss-dev) on the data bench_pdq_index wrote with --dump, for the
// side-by-side in docs/matching.md: IndexBinaryFlat, and IndexBinaryMultiHash with 16 tables
// of 16 bits and nflip 1 (what HMA uses; exact at radius 31 by the pigeonhole bound, since
// 16 chunks at 1 flip cover 16 x 2 = 32 = 31 + 1). Radius-31 queries per second on 1 and 2
// OpenMP threads, build time, memory (RSS growth) and recall against the brute-force totals
// in the file. Not part of the project: bench/run.sh compiles it with g++ only when
// libfaiss-dev is installed. Prints figures; never fails on timing.
//
// usage: faiss_bench FILE...   (FILE as written by bench_pdq_index --dump DIR)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <omp.h>

static double now_s()
{
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

static double rss_mib()
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
    return (double)resident * 4096.0 / 1048576.0;
}

struct data {
    uint64_t n = 0, nq = 0;
    std::vector<uint8_t> h, q;
    std::vector<uint64_t> ref; // brute-force totals; UINT64_MAX where not computed
};

static bool load(const char *path, data &d)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    bool ok = fread(&d.n, 8, 1, f) == 1 && fread(&d.nq, 8, 1, f) == 1;
    if (ok) {
        d.h.resize(d.n * 32);
        d.q.resize(d.nq * 32);
        d.ref.resize(d.nq);
        ok = fread(d.h.data(), 32, d.n, f) == d.n && fread(d.q.data(), 32, d.nq, f) == d.nq &&
             fread(d.ref.data(), 8, d.nq, f) == d.nq;
    }
    fclose(f);
    return ok;
}

// FAISS's binary range search returns distances strictly below the radius.
static const int RADIUS = 31;

static void run(const char *name, faiss::IndexBinary &idx, const data &d, size_t nq)
{
    double rss0 = rss_mib(), t0 = now_s();
    idx.add((faiss::Index::idx_t)d.n, d.h.data());
    double build = now_s() - t0;
    printf("  %s: build %.1f s, RSS +%.0f MiB\n", name, build, rss_mib() - rss0);
    fflush(stdout);
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        faiss::RangeSearchResult res((faiss::Index::idx_t)nq);
        t0 = now_s();
        idx.range_search((faiss::Index::idx_t)nq, d.q.data(), RADIUS + 1, &res);
        double t = now_s() - t0;
        size_t found = 0, expected = 0, same = 0;
        for (size_t k = 0; k < nq; k++) {
            uint64_t got = res.lims[k + 1] - res.lims[k];
            expected += d.ref[k];
            found += got < d.ref[k] ? got : d.ref[k];
            same += got == d.ref[k];
        }
        printf("    %d thread%s: %.1f queries/s (%.2f ms each); recall %.4f%% of %zu answers, "
               "%zu/%zu queries exact\n",
               threads, threads > 1 ? "s" : "", (double)nq / t, t * 1000.0 / (double)nq,
               expected ? 100.0 * (double)found / (double)expected : 100.0, expected, same, nq);
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE...\n", argv[0]);
        return 2;
    }
    for (int a = 1; a < argc; a++) {
        data d;
        if (!load(argv[a], d)) {
            fprintf(stderr, "cannot read %s\n", argv[a]);
            return 2;
        }
        size_t nq = 0; // the queries with a brute-force total come first
        while (nq < d.nq && d.ref[nq] != UINT64_MAX)
            nq++;
        printf("faiss %s: N=%llu, %zu queries, radius %d\n", argv[a], (unsigned long long)d.n,
               nq, RADIUS);
        {
            faiss::IndexBinaryFlat flat(256);
            run("IndexBinaryFlat", flat, d, nq);
        }
        {
            faiss::IndexBinaryMultiHash mh(256, 16, 16);
            mh.nflip = 1;
            run("IndexBinaryMultiHash(16 x 16 bits, nflip 1)", mh, d, nq);
        }
    }
    return 0;
}
