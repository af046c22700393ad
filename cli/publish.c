/* gifctl publish, alert, retract, feedback: the node signs each as its own record. Values are
 * checked here first so that a typo is reported with the exact bad value before any request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"
#include "node/api_input.h"
#include "util/gif.h"

const char ctl_publish_help[] =
    "Usage: gifctl publish --type TYPE --value VALUE [--label L]... [--entity E]\n"
    "                      [--incident I] [--content-type C] [--confidence N]\n"
    "                      [--expires TIME] [--verified]\n"
    "       gifctl publish FILE [--label L]... [...the same options but --type, --value]\n"
    "\n"
    "Publish a signal: the node signs it as its own record and gossips it to every member\n"
    "(POST /v1/signals, needs the token). Prints the record id and its seq.\n"
    "\n"
    "Given a FILE ('-': standard input), hashes it here, as 'gifctl hash' does, and publishes\n"
    "each of its signals with the same labels and fields in one request: md5 and sha256, and\n"
    "pdq for an image or vpdq for a video (--content-type defaults to image or video, or file\n"
    "for other bytes, which get md5 and sha256 only). Prints one 'TYPE  ID  seq N' line each.\n"
    "A file that looks like media but does not decode publishes nothing (exit 2).\n"
    "\n"
    "Options:\n"
    "  --type TYPE          md5, sha256, pdq, url, or vpdq (VALUE is then a JSON array of\n"
    "                       frames: [{\"hash\": ..., \"quality\": ..., \"frame\": ..., \"time\": "
    "...}])\n"
    "  --value VALUE        the hash in hex, or the URL\n"
    "  --label L            a behaviour label from the taxonomy (repeatable), e.g.\n"
    "                       attack_footage, glorification\n"
    "  --entity E           the entity (group or movement) the content relates to\n"
    "  --incident I         the incident id, e.g. chc-2019\n"
    "  --content-type C     image, video, audio, text, url, file or unknown (default)\n"
    "  --confidence N       0..100 (default 100)\n"
    "  --expires TIME       when the signal lapses (RFC 3339 or ms since the epoch)\n"
    "  --verified           mark it verified (agency nodes only)\n"
    "\n"
    "Example:\n"
    "  gifctl publish --type pdq --value "
    "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22 \\\n"
    "      --label attack_footage --incident chc-2019 --content-type video --confidence 90\n"
    "  gifctl publish clip.mp4 --label attack_footage --incident chc-2019\n";

const char ctl_alert_help[] =
    "Usage: gifctl alert --incident I --level LEVEL [--detector D] [--detector-version V]\n"
    "                    [--score S] [--signal TYPE:VALUE]... [--note N]\n"
    "\n"
    "Publish an incident alert, which travels ahead of bulk traffic (POST /v1/alerts, needs\n"
    "the token). Prints the record id and its seq.\n"
    "\n"
    "Options:\n"
    "  --incident I          the incident id (required)\n"
    "  --level LEVEL         situational_awareness, content_incident or\n"
    "                        content_incident_protocol (required)\n"
    "  --detector D          the detector's name (empty for an analyst's alert)\n"
    "  --detector-version V  its version\n"
    "  --score S             the detector's score, 0..1\n"
    "  --signal TYPE:VALUE   a signal the alert carries (repeatable, up to 64)\n"
    "  --note N              free text\n"
    "\n"
    "Example:\n"
    "  gifctl alert --incident chc-2019 --level content_incident --detector livestream-v2 \\\n"
    "      --score 0.97 --signal md5:9e107d9d372bb6826bd81d3542a419d6\n";

const char ctl_retract_help[] =
    "Usage: gifctl retract ID [--reason R]\n"
    "\n"
    "Withdraw one of this node's own signals or alerts, permanently, e.g. a false positive\n"
    "(POST /v1/retractions, needs the token). Prints the retraction's id and seq.\n"
    "\n"
    "Options:\n"
    "  --reason R   why, kept in the record\n"
    "\n"
    "Example:\n"
    "  gifctl retract 5c1f0e0b8d0c4a7e9b1f3f9d2c8e6a4b0d2f4e6a8c0b2d4f6e8a0c2e4f6a8b0c2 \\\n"
    "      --reason 'false positive'\n";

const char ctl_feedback_help[] =
    "Usage: gifctl feedback ID --verdict VERDICT [--note N]\n"
    "\n"
    "Give this node's verdict on another member's record (POST /v1/feedback, needs the\n"
    "token). A later verdict on the same record replaces this one in the counts.\n"
    "\n"
    "Options:\n"
    "  --verdict V   agree, disagree, seen, blocked or false_positive (required)\n"
    "  --note N      free text\n"
    "\n"
    "Example:\n"
    "  gifctl feedback 5c1f0e0b8d0c4a7e9b1f3f9d2c8e6a4b0d2f4e6a8c0b2d4f6e8a0c2e4f6a8b0c2 \\\n"
    "      --verdict blocked\n";

/* POSTs body (consumed) and prints the answer's id and seq. */
static int check_len(const char *opt, const char *s, size_t max)
{
    if (strlen(s) > max) {
        ctl_err("%s: '%.40s...' is longer than %zu bytes", opt, s, max);
        return CTL_USAGE;
    }
    return 0;
}

/* publish FILE: body holds the shared fields (consumed); one signal per hash of the file. */
static int publish_file(struct ctl_ctx *c, const char *name, json_t *body)
{
    uint8_t *buf;
    size_t len;
    if (ctl_read_file(name, &buf, &len)) {
        json_decref(body);
        return CTL_USAGE;
    }
    struct api_media m;
    char err[256];
    int got = ctl_media_hash(buf, len, NULL, &m, err, sizeof err);
    free(buf);
    if (got < 0) {
        ctl_err("%s: %s: nothing published", name, err);
        json_decref(body);
        return CTL_USAGE;
    }
    if (got > 0 && m.truncated) ctl_err("%s: only part of the video was hashed: %s", name, m.note);
    if (got > 0 && m.kind == API_MEDIA_IMAGE && m.pdq.quality < MEDIA_VPDQ_QUALITY)
        ctl_err("%s: warning: pdq quality %d is under %d: its near matches are unreliable", name,
                m.pdq.quality, MEDIA_VPDQ_QUALITY);
    if (!json_object_get(body, "content_type"))
        json_object_set_new(body, "content_type",
                            json_string(got == 0                    ? "file"
                                        : m.kind == API_MEDIA_IMAGE ? "image"
                                                                    : "video"));
    json_t *sigs = api_media_signals_json(&m, 1);
    api_media_free(&m);
    if (!sigs) {
        json_decref(body);
        ctl_err("out of memory");
        return CTL_USAGE;
    }
    size_t i;
    json_t *sg;
    json_array_foreach(sigs, i, sg)
    {
        json_object_del(sg, "quality"); /* not a signal field */
        json_object_del(sg, "frames");
        json_object_update_missing(sg, body);
    }
    json_decref(body);
    json_t *req = json_pack("{s:o}", "signals", sigs), *j;
    int ec = ctl_api(c, "POST", "/v1/signals", req, &j);
    json_decref(req);
    if (ec) return ec;
    if (c->json) {
        ctl_print_json(j);
    } else {
        json_t *res;
        json_array_foreach(json_object_get(j, "results"), i, res)
        {
            const char *st = ctl_jstr(res, "status", "?");
            const char *type = i == 0                                 ? "md5"
                               : i == 1                               ? "sha256"
                               : got > 0 && m.kind == API_MEDIA_IMAGE ? "pdq"
                                                                      : "vpdq";
            if (strcmp(st, "accepted") == 0)
                printf("%-6s  %s  seq %lld\n", type, ctl_jstr(res, "id", "?"),
                       (long long)ctl_jint(res, "seq", 0));
            else
                printf("%-6s  %s  %s%s%s\n", type, ctl_jstr(res, "id", "-"), st,
                       json_object_get(res, "message") ? ": " : "", ctl_jstr(res, "message", ""));
        }
    }
    /* A refused signal is a refused input. */
    json_t *res;
    json_array_foreach(json_object_get(j, "results"), i, res)
    {
        const char *st = ctl_jstr(res, "status", "");
        if (strcmp(st, "accepted") != 0 && strcmp(st, "duplicate") != 0) ec = CTL_USAGE;
    }
    json_decref(j);
    return ec;
}

int ctl_publish(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_TYPE = 1, O_VALUE, O_LABEL, O_ENTITY, O_INCIDENT, O_CT, O_CONF, O_EXP, O_VER };
    static const struct ctl_optdef defs[] = {
        {"type", true, O_TYPE},         {"value", true, O_VALUE},
        {"label", true, O_LABEL},       {"entity", true, O_ENTITY},
        {"incident", true, O_INCIDENT}, {"content-type", true, O_CT},
        {"confidence", true, O_CONF},   {"expires", true, O_EXP},
        {"verified", false, O_VER},     {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *type = NULL, *value = NULL, *val;
    json_t *body = json_object(), *labels = json_array();
    int r, ec = CTL_USAGE;
    uint8_t st = 0, ct;
    uint64_t n;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        switch (r) {
        case O_TYPE:
            type = val;
            break;
        case O_VALUE:
            value = val;
            break;
        case O_LABEL:
            if (ctl_parse_label("--label", val)) goto out;
            if (json_array_size(labels) == PROTO_LABELS_MAX) {
                ctl_usage(c, "--label: at most %d labels", PROTO_LABELS_MAX);
                goto out;
            }
            json_array_append_new(labels, json_string(val));
            break;
        case O_ENTITY:
            if (check_len("--entity", val, PROTO_NAME_MAX)) goto out;
            json_object_set_new(body, "entity", json_string(val));
            break;
        case O_INCIDENT:
            if (check_len("--incident", val, PROTO_INCIDENT_MAX)) goto out;
            json_object_set_new(body, "incident", json_string(val));
            break;
        case O_CT:
            if (proto_content_parse(val, &ct) != 0) {
                ctl_err("--content-type: '%s' is not one of image, video, audio, text, url, "
                        "file, unknown",
                        val);
                goto out;
            }
            json_object_set_new(body, "content_type", json_string(val));
            break;
        case O_CONF:
            if (ctl_parse_uint("--confidence", val, 100, &n)) goto out;
            json_object_set_new(body, "confidence", json_integer((json_int_t)n));
            break;
        case O_EXP:
            if (ctl_parse_time("--expires", val, &n)) goto out;
            json_object_set_new(body, "expires", json_integer((json_int_t)n));
            break;
        case O_VER:
            json_object_set_new(body, "verified", json_true());
            break;
        }
    }
    if (r < 0) {
        ec = ctl_args_stop(c, r);
        goto out;
    }
    if (a.npos > 1 || (a.npos == 1 && (type || value))) {
        ctl_usage(c, "publish: unexpected argument '%s' (give one FILE, or --type and --value)",
                  argv[a.npos - 1]);
        goto out;
    }
    if (a.npos == 1) {
        if (json_array_size(labels)) json_object_set(body, "labels", labels);
        json_decref(labels);
        return publish_file(c, argv[0], body);
    }
    if (!type || !value) {
        ctl_usage(c, "publish: --type and --value are required");
        goto out;
    }
    if (ctl_parse_stype("--type", type, &st)) goto out;
    if (st == PROTO_ST_VPDQ) {
        json_error_t je;
        json_t *frames = json_loads(value, 0, &je);
        if (!json_is_array(frames) || json_array_size(frames) == 0) {
            json_decref(frames);
            ctl_err("--value: '%.60s' is not a JSON array of vpdq frames", value);
            goto out;
        }
        json_object_set_new(body, "value", frames);
    } else {
        if (ctl_check_value("--value", st, value)) goto out;
        json_object_set_new(body, "value", json_string(value));
    }
    json_object_set_new(body, "type", json_string(proto_stype_name(st)));
    if (json_array_size(labels)) json_object_set(body, "labels", labels);
    json_decref(labels);
    return ctl_post_record(c, "/v1/signals", body);
out:
    json_decref(labels);
    json_decref(body);
    return ec;
}

int ctl_alert(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_INC = 1, O_LEVEL, O_DET, O_DETV, O_SCORE, O_SIGNAL, O_NOTE };
    static const struct ctl_optdef defs[] = {
        {"incident", true, O_INC}, {"level", true, O_LEVEL},
        {"detector", true, O_DET}, {"detector-version", true, O_DETV},
        {"score", true, O_SCORE},  {"signal", true, O_SIGNAL},
        {"note", true, O_NOTE},    {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val, *incident = NULL, *level = NULL;
    json_t *body = json_object(), *signals = json_array();
    int r, ec = CTL_USAGE;
    uint8_t lv, st;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        switch (r) {
        case O_INC:
            incident = val;
            break;
        case O_LEVEL:
            level = val;
            break;
        case O_DET:
            if (check_len("--detector", val, PROTO_NAME_MAX)) goto out;
            json_object_set_new(body, "detector", json_string(val));
            break;
        case O_DETV:
            if (check_len("--detector-version", val, PROTO_NAME_MAX)) goto out;
            json_object_set_new(body, "detector_version", json_string(val));
            break;
        case O_SCORE: {
            char *end;
            double s = strtod(val, &end);
            if (end == val || *end != '\0' || !(s >= 0.0 && s <= 1.0)) {
                ctl_err("--score: '%s' is not a number from 0 to 1", val);
                goto out;
            }
            json_object_set_new(body, "score", json_real(s));
            break;
        }
        case O_SIGNAL: {
            const char *colon = strchr(val, ':');
            char t[16];
            if (!colon || (size_t)(colon - val) >= sizeof t) {
                ctl_err("--signal: '%s' is not TYPE:VALUE (e.g. md5:9e107d9d...)", val);
                goto out;
            }
            memcpy(t, val, (size_t)(colon - val));
            t[colon - val] = '\0';
            if (ctl_parse_stype("--signal", t, &st) || ctl_check_value("--signal", st, colon + 1))
                goto out;
            if (json_array_size(signals) == PROTO_ALERT_SIGNALS_MAX) {
                ctl_usage(c, "--signal: at most %d signals", PROTO_ALERT_SIGNALS_MAX);
                goto out;
            }
            json_array_append_new(
                signals, json_pack("{s:s, s:s}", "type", proto_stype_name(st), "value", colon + 1));
            break;
        }
        case O_NOTE:
            if (check_len("--note", val, PROTO_TEXT_MAX)) goto out;
            json_object_set_new(body, "note", json_string(val));
            break;
        }
    }
    if (r < 0) {
        ec = ctl_args_stop(c, r);
        goto out;
    }
    if (a.npos > 0) {
        ctl_usage(c, "alert: unexpected argument '%s'", argv[0]);
        goto out;
    }
    if (!incident || !incident[0] || !level) {
        ctl_usage(c, "alert: --incident and --level are required");
        goto out;
    }
    if (check_len("--incident", incident, PROTO_INCIDENT_MAX)) goto out;
    if (proto_level_parse(level, &lv) != 0) {
        ctl_err("--level: '%s' is not one of situational_awareness, content_incident, "
                "content_incident_protocol",
                level);
        goto out;
    }
    json_object_set_new(body, "incident", json_string(incident));
    json_object_set_new(body, "level", json_string(level));
    if (json_array_size(signals)) json_object_set(body, "signals", signals);
    json_decref(signals);
    return ctl_post_record(c, "/v1/alerts", body);
out:
    json_decref(signals);
    json_decref(body);
    return ec;
}

/* retract and feedback both take one record id. */
static int target_id(struct ctl_ctx *c, int npos, char **argv, const char **id)
{
    if (npos != 1) return ctl_usage(c, "%s: give one record ID", c->verb);
    uint8_t raw[PROTO_ID_LEN];
    if (ctl_parse_hex("ID", argv[0], raw, PROTO_ID_LEN)) return CTL_USAGE;
    *id = argv[0];
    return 0;
}

int ctl_retract(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_REASON = 1 };
    static const struct ctl_optdef defs[] = {{"reason", true, O_REASON}, {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val, *reason = NULL, *id = NULL;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0)
        if (r == O_REASON) reason = val;
    if (r < 0) return ctl_args_stop(c, r);
    if (target_id(c, a.npos, argv, &id)) return CTL_USAGE;
    if (reason && check_len("--reason", reason, PROTO_TEXT_MAX)) return CTL_USAGE;
    json_t *body = json_pack("{s:s}", "target", id);
    if (reason) json_object_set_new(body, "reason", json_string(reason));
    return ctl_post_record(c, "/v1/retractions", body);
}

int ctl_feedback(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_VERDICT = 1, O_NOTE };
    static const struct ctl_optdef defs[] = {
        {"verdict", true, O_VERDICT}, {"note", true, O_NOTE}, {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val, *verdict = NULL, *note = NULL, *id = NULL;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        if (r == O_VERDICT) verdict = val;
        if (r == O_NOTE) note = val;
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (target_id(c, a.npos, argv, &id)) return CTL_USAGE;
    uint8_t v;
    if (!verdict) return ctl_usage(c, "feedback: --verdict is required");
    if (proto_fb_parse(verdict, &v) != 0) {
        ctl_err("--verdict: '%s' is not one of agree, disagree, seen, blocked, false_positive",
                verdict);
        return CTL_USAGE;
    }
    if (note && check_len("--note", note, PROTO_TEXT_MAX)) return CTL_USAGE;
    json_t *body = json_pack("{s:s, s:s}", "target", id, "verdict", verdict);
    if (note) json_object_set_new(body, "note", json_string(note));
    return ctl_post_record(c, "/v1/feedback", body);
}
