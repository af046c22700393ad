/*
 * A small blocking HTTP/1.1 client over TCP for gifctl: one keep-alive connection, requests
 * one at a time, responses parsed with http-parser (Content-Length, chunked, or until close),
 * and a streaming mode for server-sent events. Plain http:// only: the node's API listens
 * inside the member's network (docs/api.md).
 */
#ifndef GIF_CLI_HTTP_H
#define GIF_CLI_HTTP_H

#include <stddef.h>

#define CTL_HTTP_BODY_MAX (512u * 1024 * 1024) /* a buffered response body, bytes */
#define CTL_HTTP_CONNECT_MS 5000
#define CTL_HTTP_READ_MS 120000 /* a write batch may wait on fsync; generous on purpose */

struct ctl_http;

/* Parses url ("http://host[:port][/prefix]") and prepares a connection (not yet opened).
 * Returns 0, or -EINVAL with a sentence in err. Free with ctl_http_close. */
int ctl_http_new(struct ctl_http **out, const char *url, char *err, size_t errlen);
void ctl_http_close(struct ctl_http *h);

struct ctl_resp {
    int status;
    char *body; /* malloc'd, NUL-terminated; caller frees with ctl_resp_free */
    size_t len;
};
void ctl_resp_free(struct ctl_resp *r);

/*
 * Sends one request and reads the whole answer into *resp. path starts with "/" and is
 * appended to the URL's prefix; headers is NULL or extra "Name: value\r\n" lines; body may be
 * NULL. Reconnects once when a reused keep-alive connection turns out to be closed before any
 * answer byte arrived. Returns 0 for any HTTP answer, or a negative errno with a sentence in
 * err (connection refused, timeout, malformed answer, body over CTL_HTTP_BODY_MAX).
 */
int ctl_http_request(struct ctl_http *h, const char *method, const char *path, const char *headers,
                     const char *body, size_t bodylen, struct ctl_resp *resp, char *err,
                     size_t errlen);

/* ctl_http_request with a body of Content-Type ctype (ctl_http_request sends JSON). */
int ctl_http_request_ct(struct ctl_http *h, const char *method, const char *path,
                        const char *headers, const char *ctype, const char *body, size_t bodylen,
                        struct ctl_resp *resp, char *err, size_t errlen);

/*
 * Opens a streaming GET: on a 2xx answer calls on_data for every body chunk as it arrives
 * until the server closes, the read times out after idle_ms without a byte, or on_data
 * returns non-zero (then that value is returned). On a non-2xx answer the body is read into
 * *resp (status set) and 0 is returned without calling on_data. Always closes the connection
 * afterwards. Returns 0 when the stream ended, or a negative errno with err.
 */
typedef int (*ctl_http_data_cb)(void *ctx, const char *data, size_t len);
int ctl_http_stream(struct ctl_http *h, const char *path, const char *headers, int idle_ms,
                    ctl_http_data_cb on_data, void *ctx, struct ctl_resp *resp, char *err,
                    size_t errlen);

#endif
