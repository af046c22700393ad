/*
 * Access to Meta's PDQ conformance data for the media unit tests (test_image.c,
 * test_media_pdq.c): ctest sets GIF_SOURCE_DIR, and the data sits in ../shared/testdata/pdq
 * beside the checkout (its README describes it). Tests that need it skip, with a message,
 * when it is absent. Include after <cmocka.h>.
 */
#ifndef GIF_TESTS_PDQ_TESTDATA_H
#define GIF_TESTS_PDQ_TESTDATA_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char data_dir[4096];

static int have_data(void)
{
    const char *src = getenv("GIF_SOURCE_DIR");
    if (!src) return 0;
    snprintf(data_dir, sizeof(data_dir), "%s/../shared/testdata/pdq", src);
    struct stat st;
    return stat(data_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

#define NEED_DATA()                                                                                \
    do {                                                                                           \
        if (!have_data()) {                                                                        \
            print_message("SKIP: no PDQ test data (GIF_SOURCE_DIR/../shared/testdata/pdq)\n");     \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Reads data_dir/rel whole (malloc'd, one spare byte); the test fails if it cannot. */
static uint8_t *slurp(const char *rel, size_t *n)
{
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s", data_dir, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)(len > 0 ? len : 0) + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

#endif
