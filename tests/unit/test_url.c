/* URL normalisation: each rule of docs/protocol.md, and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/url.h"
#include "util/gif.h"

static void norm_is(const char *in, const char *want)
{
    char out[PROTO_URL_MAX + 64];
    int n = proto_url_normalise(in, strlen(in), out, sizeof out);
    if (n < 0) fail_msg("'%s' refused: %s", in, gif_strerror(n));
    if (strcmp(out, want) != 0) fail_msg("'%s' -> '%s', want '%s'", in, out, want);
}

static void test_rules(void **state)
{
    (void)state;
    norm_is("https://www.Example.COM/a/b?x=1#frag", "example.com/a/b?x=1");
    norm_is("http://example.com", "example.com/");
    norm_is("example.com", "example.com/");
    norm_is("  http://example.com:80/  ", "example.com/");
    norm_is("https://example.com:443/x", "example.com/x");
    norm_is("https://example.com:8443/x", "example.com:8443/x");
    norm_is("https://user:pw@example.com/x", "example.com/x");
    norm_is("https://example.com./x", "example.com/x");
    norm_is("https://example.com/a/./b/../c", "example.com/a/c");
    norm_is("https://example.com/%7euser/%2f%41", "example.com/~user/%2FA");
    norm_is("https://example.com/a?", "example.com/a");
    norm_is("ftp://files.example.com/x", "ftp://files.example.com/x");
    norm_is("HTTPS://EXAMPLE.com/Path", "example.com/Path");
    norm_is("https://[2001:db8::1]:443/v", "[2001:db8::1]/v");
}

static void test_refusals(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(proto_url_normalise("", 0, out, sizeof out), GIF_E_INVALID);
    assert_int_equal(proto_url_normalise("   ", 3, out, sizeof out), GIF_E_INVALID);
    assert_int_equal(proto_url_normalise("http://a b/", 11, out, sizeof out), GIF_E_INVALID);
    assert_int_equal(proto_url_normalise("http://a/%zz", 12, out, sizeof out), GIF_E_INVALID);
    assert_int_equal(proto_url_normalise("http://a/%4", 11, out, sizeof out), GIF_E_INVALID);
    assert_int_equal(proto_url_normalise("http://a:x/", 11, out, sizeof out), GIF_E_INVALID);
    assert_int_equal(proto_url_normalise("http:///x", 9, out, sizeof out), GIF_E_INVALID);
    const char *longurl =
        "http://example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    assert_int_equal(proto_url_normalise(longurl, strlen(longurl), out, sizeof out), GIF_E_TOOBIG);
}

static void test_hash_equal_for_variants(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    assert_int_equal(proto_url_hash("https://www.example.com/x#y", 27, a), 0);
    assert_int_equal(proto_url_hash("http://EXAMPLE.com:80/x", 23, b), 0);
    assert_memory_equal(a, b, 32);
    assert_int_equal(proto_url_hash("http://example.com/y", 20, b), 0);
    assert_memory_not_equal(a, b, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_hash_equal_for_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
