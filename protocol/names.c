/* Name tables: the one spelling of each enumerated value, shared by JSON, config and CLI. */
#include <string.h>

#include "protocol/record.h"
#include "util/gif.h"

static const char *const kinds[] = {NULL,       "signal",     "alert",     "retraction",
                                    "feedback", "membership", "revocation", "incident",
                                    "grant"};
static const char *const stypes[] = {NULL, "md5", "sha256", "pdq", "vpdq", "url"};
static const char *const roles[] = {NULL, "agency", "platform", "observer"};
static const char *const contents[] = {"unknown", "image", "video", "audio", "text", "url", "file"};
static const char *const fbs[] = {NULL, "agree", "disagree", "seen", "blocked", "false_positive"};
static const char *const actions[] = {NULL, "escalate", "deescalate", "conclude", "reopen"};
static const char *const rights[] = {NULL, "incidents"};
static const char *const levels[] = {NULL, "situational_awareness", "content_incident",
                                     "content_incident_protocol"};

/* The behaviour taxonomy. Adding a label is backward compatible (decoders accept any
 * well-formed label); removing one is not. */
const char *const proto_labels[] = {
    "attack_footage",      /* recordings of an attack, including livestreams */
    "perpetrator_content", /* manifestos and material made by an attacker */
    "glorification",       /* praise or celebration of attacks or attackers */
    "graphic_violence",    /* depictions of killing or injury */
    "incitement",          /* calls to commit violence */
    "instructional",       /* weapon, explosive or attack-planning instructions */
    "recruitment",         /* recruiting for a violent extremist group */
    "propaganda",          /* official branded output of a designated group */
    "threat",              /* credible threats of violence */
    "financing",           /* fundraising for a violent extremist group */
    NULL,
};

static const char *name_of(const char *const *tab, size_t n, uint8_t v)
{
    return v < n ? tab[v] : NULL;
}

static int parse_in(const char *const *tab, size_t n, const char *s, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        if (tab[i] && strcmp(tab[i], s) == 0) {
            *out = (uint8_t)i;
            return 0;
        }
    return GIF_E_INVALID;
}

#define TABLE(fn, tab)                                                                             \
    const char *proto_##fn##_name(uint8_t v)                                                       \
    {                                                                                              \
        return name_of(tab, GIF_ARRAY_LEN(tab), v);                                                \
    }                                                                                              \
    int proto_##fn##_parse(const char *s, uint8_t *out)                                            \
    {                                                                                              \
        return parse_in(tab, GIF_ARRAY_LEN(tab), s, out);                                          \
    }

TABLE(kind, kinds)
TABLE(stype, stypes)
TABLE(role, roles)
TABLE(content, contents)
TABLE(fb, fbs)
TABLE(level, levels)
TABLE(action, actions)
TABLE(right, rights)

size_t proto_stype_len(uint8_t stype)
{
    switch (stype) {
    case PROTO_ST_MD5:
        return 16;
    case PROTO_ST_SHA256:
    case PROTO_ST_PDQ:
    case PROTO_ST_URL:
        return 32;
    default:
        return 0;
    }
}

bool proto_label_known(const char *s, size_t n)
{
    for (size_t i = 0; proto_labels[i]; i++)
        if (strlen(proto_labels[i]) == n && memcmp(proto_labels[i], s, n) == 0) return true;
    return false;
}
