/* Calls to the node's HTTP API and the mapping of failures to exit codes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"
#include "cli/http.h"

/* Sends one request with a body of type ctype (NULL body: none) and parses the JSON answer. */
static int api_send(struct ctl_ctx *c, const char *method, const char *path, const char *ctype,
                    const char *text, size_t len, int *status, json_t **out, char *err,
                    size_t errlen)
{
    *status = 0;
    *out = NULL;
    if (!c->conn) {
        int rc = ctl_http_new(&c->conn, c->api, err, errlen);
        if (rc != 0) return rc;
    }
    char hdr[600] = "";
    if (c->token && c->token[0]) {
        if (strlen(c->token) > 500 || strpbrk(c->token, "\r\n")) {
            snprintf(err, errlen, "the token is not a single short line");
            return -EINVAL;
        }
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", c->token);
    }
    struct ctl_resp resp;
    int rc = ctl_http_request_ct(c->conn, method, path, hdr[0] ? hdr : NULL, ctype, text, len,
                                 &resp, err, errlen);
    if (rc != 0) return rc;
    *status = resp.status;
    if (resp.len > 0) {
        json_error_t je;
        *out = json_loadb(resp.body, resp.len, 0, &je);
    } else {
        *out = json_object();
    }
    ctl_resp_free(&resp);
    return 0;
}

int ctl_api_raw(struct ctl_ctx *c, const char *method, const char *path, const json_t *body,
                int *status, json_t **out, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text) {
            *status = 0;
            *out = NULL;
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        len = strlen(text);
    }
    int rc = api_send(c, method, path, "application/json", text, len, status, out, err, errlen);
    free(text);
    return rc;
}

/* The answer of a request sent by api_send, mapped to exit codes as ctl_api does. */
static int api_finish(struct ctl_ctx *c, int rc, int status, json_t *j, const char *err,
                      json_t **out)
{
    if (rc == -EINVAL) {
        ctl_err("--api: %s", err);
        return CTL_USAGE;
    }
    if (rc != 0) return ctl_api_unreachable(c, err);
    if (status < 200 || status > 299) {
        int ec = ctl_api_fail(c, status, j);
        json_decref(j);
        return ec;
    }
    if (!j) {
        ctl_err("node at %s answered HTTP %d with a body that is not JSON", c->api, status);
        return CTL_UNREACHABLE;
    }
    *out = j;
    return CTL_OK;
}

int ctl_api_bytes(struct ctl_ctx *c, const char *path, const char *ctype, const uint8_t *body,
                  size_t len, json_t **out)
{
    char err[512];
    int status;
    json_t *j;
    *out = NULL;
    int rc =
        api_send(c, "POST", path, ctype, (const char *)body, len, &status, &j, err, sizeof err);
    return api_finish(c, rc, status, j, err, out);
}

const char *ctl_api_errtext(char *out, size_t outlen, int status, const json_t *body)
{
    const json_t *e = json_object_get(body, "error");
    if (!json_is_object(e)) {
        snprintf(out, outlen, "HTTP %d", status);
        return out;
    }
    const char *code = ctl_jstr(e, "code", "error");
    const char *msg = ctl_jstr(e, "message", "");
    const char *field = ctl_jstr(e, "field", NULL);
    const char *value = ctl_jstr(e, "value", NULL);
    const char *reason = ctl_jstr(e, "reason", NULL);
    int n = snprintf(out, outlen, "%s: %s", code, msg);
    if (n < 0 || (size_t)n >= outlen) return out;
    if (reason && !strstr(msg, reason))
        n += snprintf(out + n, outlen - (size_t)n, " (reason %s)", reason);
    if ((size_t)n >= outlen) return out;
    /* Quote the bad value unless the message already does. */
    if (field && value && !strstr(msg, value))
        snprintf(out + n, outlen - (size_t)n, " (%s: '%s')", field, value);
    else if (field && !strstr(msg, field))
        snprintf(out + n, outlen - (size_t)n, " (%s)", field);
    return out;
}

int ctl_api_unreachable(struct ctl_ctx *c, const char *err)
{
    ctl_err("cannot reach node at %s: %s", c->api, err);
    return CTL_UNREACHABLE;
}

int ctl_api_fail(struct ctl_ctx *c, int status, const json_t *body)
{
    char text[1024];
    ctl_api_errtext(text, sizeof text, status, body);
    if (status == 401) {
        ctl_err("node at %s refused: %s%s", c->api, text,
                c->token ? "" : " (no token: pass --token or set GIFCTL_TOKEN)");
        return CTL_UNREACHABLE;
    }
    if (status >= 500 || status < 400) {
        ctl_err("node at %s failed (HTTP %d): %s", c->api, status, text);
        return CTL_UNREACHABLE;
    }
    ctl_err("%s: %s", c->verb, text);
    return status == 404 ? CTL_NOTFOUND : CTL_USAGE;
}

int ctl_api(struct ctl_ctx *c, const char *method, const char *path, const json_t *body,
            json_t **out)
{
    char err[512];
    int status;
    json_t *j;
    *out = NULL;
    int rc = ctl_api_raw(c, method, path, body, &status, &j, err, sizeof err);
    return api_finish(c, rc, status, j, err, out);
}

int ctl_post_record(struct ctl_ctx *c, const char *path, json_t *body)
{
    json_t *j;
    int ec = ctl_api(c, "POST", path, body, &j);
    json_decref(body);
    if (ec) return ec;
    if (c->json)
        ctl_print_json(j);
    else
        printf("%s  seq %lld\n", ctl_jstr(j, "id", "?"), (long long)ctl_jint(j, "seq", 0));
    json_decref(j);
    return CTL_OK;
}
