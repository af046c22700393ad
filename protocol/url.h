/*
 * URL signals: a url signal's value is SHA-256 of the normalised URL, so that trivially
 * different spellings of one address match. The rules are in docs/protocol.md.
 */
#ifndef GIF_PROTOCOL_URL_H
#define GIF_PROTOCOL_URL_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_URL_MAX 4096

/* Writes the normalised form of url[0..n) into out (NUL-terminated). Returns its length, or
 * GIF_E_INVALID (empty, control characters, bad percent-escape) or GIF_E_TOOBIG. */
int proto_url_normalise(const char *url, size_t n, char *out, size_t outlen);
/* SHA-256 of the normalised URL. Returns 0 or the error of proto_url_normalise. */
int proto_url_hash(const char *url, size_t n, uint8_t hash[static 32]);

#endif
