/*
 * Exact hashes of media bytes: MD5 and SHA-256 of the file as received (the `md5` and `sha256`
 * signal types), through OpenSSL's EVP interface. Thread-safe; no I/O.
 */
#ifndef GIF_MEDIA_FILEHASH_H
#define GIF_MEDIA_FILEHASH_H

#include <stddef.h>
#include <stdint.h>

#define MEDIA_MD5_LEN 16
#define MEDIA_SHA256_LEN 32

/* Digest of buf[0..n) (n may be 0). Returns 0, or -ENOMEM when OpenSSL cannot allocate. */
int media_md5(const uint8_t *buf, size_t n, uint8_t out[static MEDIA_MD5_LEN]);
int media_sha256(const uint8_t *buf, size_t n, uint8_t out[static MEDIA_SHA256_LEN]);

#endif
