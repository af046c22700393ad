/* util/gif.c: the helpers every module shares. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/gif.h"

static void test_grow(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    assert_int_equal(gif_grow(&a, &cap, 0, sizeof *a, 16), 0); /* no room needed: nothing */
    assert_null(a);
    assert_int_equal(cap, 0);
    assert_int_equal(gif_grow(&a, &cap, 1, sizeof *a, 16), 0);
    assert_non_null(a);
    assert_int_equal(cap, 16);
    for (int i = 0; i < 16; i++)
        a[i] = i;
    int *before = a;
    assert_int_equal(gif_grow(&a, &cap, 16, sizeof *a, 16), 0); /* fits: unchanged */
    assert_ptr_equal(a, before);
    assert_int_equal(gif_grow(&a, &cap, 17, sizeof *a, 16), 0);
    assert_int_equal(cap, 32);
    assert_int_equal(gif_grow(&a, &cap, 100, sizeof *a, 16), 0); /* doubles until it fits */
    assert_int_equal(cap, 128);
    for (int i = 0; i < 16; i++)
        assert_int_equal(a[i], i); /* contents kept */
    /* Too large to count in bytes: refused, the array untouched. */
    before = a;
    assert_int_equal(gif_grow(&a, &cap, SIZE_MAX / 2, sizeof *a, 16), -ENOMEM);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 128);
    free(a);
}

static void test_hex(void **state)
{
    (void)state;
    const uint8_t in[3] = {0x00, 0xab, 0xff};
    char out[7];
    gif_hex(out, in, 3);
    assert_string_equal(out, "00abff");
    uint8_t back[3];
    assert_int_equal(gif_unhex(back, 3, "00ABff", 6), 0);
    assert_memory_equal(back, in, 3);
    assert_int_not_equal(gif_unhex(back, 3, "00abfg", 6), 0);
    assert_int_not_equal(gif_unhex(back, 3, "00ab", 4), 0);
}

static void test_list_next(void **state)
{
    (void)state;
    const char *s = " a,bc  ,\tdef,", *w;
    size_t n;
    assert_non_null(w = gif_list_next(&s, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(w, "a", 1);
    assert_non_null(w = gif_list_next(&s, &n));
    assert_int_equal(n, 2);
    assert_memory_equal(w, "bc", 2);
    assert_non_null(w = gif_list_next(&s, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(w, "def", 3);
    assert_null(gif_list_next(&s, &n));
    assert_null(gif_list_next(&s, &n)); /* stays at the end */
    s = " , ";
    assert_null(gif_list_next(&s, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_list_next),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
