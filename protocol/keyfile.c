#include "protocol/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/gif.h"

static int write_new(const char *path, mode_t mode, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return -errno;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = -errno;
            close(fd);
            unlink(path);
            return e;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(path);
        return -EIO;
    }
    return 0;
}

int proto_keyfile_write_sk(const char *path, const uint8_t sk[static PROTO_SK_LEN])
{
    char hex[2 * PROTO_SK_LEN + 2];
    gif_hex(hex, sk, PROTO_SK_LEN);
    hex[2 * PROTO_SK_LEN] = '\n';
    int rc = write_new(path, 0600, hex, 2 * PROTO_SK_LEN + 1);
    sodium_memzero(hex, sizeof hex);
    return rc;
}

int proto_keyfile_write_pk(const char *path, const uint8_t pk[static PROTO_KEY_LEN])
{
    char hex[2 * PROTO_KEY_LEN + 2];
    gif_hex(hex, pk, PROTO_KEY_LEN);
    hex[2 * PROTO_KEY_LEN] = '\n';
    return write_new(path, 0644, hex, 2 * PROTO_KEY_LEN + 1);
}

/* Reads a file of one hex line of exactly 2*n digits into out. */
static int read_hex(const char *path, uint8_t *out, size_t n, char *err, size_t errlen)
{
    char buf[2 * PROTO_SK_LEN + 8];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-e));
        return e;
    }
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got < 0) {
        snprintf(err, errlen, "%s: read failed", path);
        return -EIO;
    }
    size_t len = (size_t)got;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    int rc = gif_unhex(out, n, buf, len);
    sodium_memzero(buf, sizeof buf);
    if (rc != 0) snprintf(err, errlen, "%s: expected one line of %zu hex digits", path, 2 * n);
    return rc;
}

int proto_keyfile_read_sk(const char *path, uint8_t sk[static PROTO_SK_LEN], char *err,
                          size_t errlen)
{
    int rc = read_hex(path, sk, PROTO_SK_LEN, err, errlen);
    if (rc != 0) return rc;
    uint8_t pk[PROTO_KEY_LEN];
    proto_sk_to_pk(pk, sk);
    if (memcmp(pk, sk + 32, PROTO_KEY_LEN) != 0) {
        sodium_memzero(sk, PROTO_SK_LEN);
        snprintf(err, errlen, "%s: public half does not match the secret seed", path);
        return GIF_E_INVALID;
    }
    return 0;
}

int proto_keyfile_read_pk(const char *path, uint8_t pk[static PROTO_KEY_LEN], char *err,
                          size_t errlen)
{
    return read_hex(path, pk, PROTO_KEY_LEN, err, errlen);
}
