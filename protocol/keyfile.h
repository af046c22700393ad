/*
 * Key files. A secret key file holds one line: the 128 hex digits of the 64-byte Ed25519
 * secret key (libsodium layout, seed then public key), mode 0600. A public key file holds the
 * 64 hex digits of the public key. Secrets are read into sodium_malloc'd memory by the caller
 * and wiped after use.
 */
#ifndef GIF_PROTOCOL_KEYFILE_H
#define GIF_PROTOCOL_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/record.h"

/* Writes sk to path with mode 0600, refusing to overwrite an existing file (-EEXIST). */
int proto_keyfile_write_sk(const char *path, const uint8_t sk[static PROTO_SK_LEN]);
/* Writes pk as hex to path (mode 0644), refusing to overwrite (-EEXIST). */
int proto_keyfile_write_pk(const char *path, const uint8_t pk[static PROTO_KEY_LEN]);
/* Reads a secret key file; checks that its public half matches its seed. Returns 0,
 * -errno, or GIF_E_INVALID (with a sentence in err naming the file). */
int proto_keyfile_read_sk(const char *path, uint8_t sk[static PROTO_SK_LEN], char *err,
                          size_t errlen);
/* Reads a public key file. Returns 0, -errno or GIF_E_INVALID. */
int proto_keyfile_read_pk(const char *path, uint8_t pk[static PROTO_KEY_LEN], char *err,
                          size_t errlen);

#endif
