/*
 * Fuzz harness for API request bodies: the first byte picks the endpoint's validator, the
 * rest is the body. Any bytes must be refused with a filled error or parsed into a draft that
 * the signer accepts (the validators promise nothing invalid reaches the store).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/api_input.h"
#include "protocol/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t which = data[0] % 5;
    json_error_t jerr;
    json_t *j = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) return 0;
    struct proto_record d;
    struct arena a = {0};
    struct api_err e;
    memset(&e, 0, sizeof e);
    int rc;
    if (!json_is_object(j)) {
        rc = -1, e.code = "bad_json", e.status = 400;
    } else {
        switch (which) {
        case 0:
            rc = api_parse_signal(j, &d, &a, "", &e);
            break;
        case 1:
            rc = api_parse_alert(j, &d, &a, &e);
            break;
        case 2:
            rc = api_parse_retraction(j, &d, &e);
            break;
        case 3:
            rc = api_parse_feedback(j, &d, &e);
            break;
        default: {
            uint8_t stype, key[32];
            size_t klen;
            const char *t = json_string_value(json_object_get(j, "type"));
            json_t *v = json_object_get(j, "value");
            rc = t && json_is_string(v)
                     ? api_parse_key(t, json_string_value(v), json_string_length(v), &stype, key,
                                     &klen, "value", &e)
                     : -1;
            if (rc) e.code = e.code ? e.code : "x", e.status = e.status ? e.status : 400;
            which = 9;
        }
        }
    }
    if (rc != 0) {
        if (!e.code || e.status < 400 || e.status > 599) abort();
    } else if (which < 4) {
        /* A draft the validator passed must be signable: fill the envelope and sign. */
        uint8_t pk[32], sk[64];
        proto_keygen(pk, sk);
        memcpy(d.origin, pk, 32);
        d.seq = 1;
        d.time_ms = 1;
        uint8_t *buf;
        size_t len;
        if (proto_sign(&d, sk, &buf, &len) != 0) abort();
        free(buf);
    }
    arena_free(&a);
    json_decref(j);
    return 0;
}
