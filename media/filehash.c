/* MD5 and SHA-256 of bytes in memory through OpenSSL's EVP digests. */
#include "media/filehash.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

static int digest(const EVP_MD *md, const uint8_t *buf, size_t n, uint8_t *out, size_t outlen)
{
    unsigned len = 0;
    static const uint8_t none[1];
    int ok = md && EVP_Digest(n ? buf : none, n, out, &len, md, NULL) == 1 && len == outlen;
    if (!ok) memset(out, 0, outlen);
    return ok ? 0 : -ENOMEM;
}

int media_md5(const uint8_t *buf, size_t n, uint8_t out[static MEDIA_MD5_LEN])
{
    return digest(EVP_md5(), buf, n, out, MEDIA_MD5_LEN);
}

int media_sha256(const uint8_t *buf, size_t n, uint8_t out[static MEDIA_SHA256_LEN])
{
    return digest(EVP_sha256(), buf, n, out, MEDIA_SHA256_LEN);
}
