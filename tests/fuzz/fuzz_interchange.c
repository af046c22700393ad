/*
 * Fuzz harness for gifctl's interchange formats (cli/ix_*.c). The first byte picks what the
 * rest is: 0 a STIX document, 1 a MISP document, 2 CSV text (a header line, then rows), 3 a
 * JSON list of record objects (as GET /v1/records gives them) to write in every format. Any
 * bytes must be read without a crash; every signal a reader hands on must pass the same check
 * the node applies, and what the writers produce for STIX and MISP must parse as JSON.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/interchange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_signal(void *ctx, unsigned long item, json_t *sig, size_t bytes)
{
    (void)ctx;
    (void)item;
    (void)bytes;
    char why[256];
    if (ix_check_signal(sig, why, sizeof why)) abort();
    json_decref(sig);
}

static void on_other(void *ctx, unsigned long item, const char *why, const char *value)
{
    (void)ctx;
    (void)item;
    if (!why || !*why) abort();
    if (value) (void)strlen(value);
}

static void read_csv(const char *text, size_t len, const struct ix_sink *s)
{
    char *copy = malloc(len + 1);
    if (!copy) return;
    memcpy(copy, text, len);
    copy[len] = '\0';
    struct ix_csv c;
    bool header = false;
    unsigned long line = 0;
    char *save = NULL;
    for (char *ln = strtok_r(copy, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        line++;
        char *fields[IX_CSV_FIELDS_MAX];
        int nf = ix_csv_split(ln, fields, IX_CSV_FIELDS_MAX);
        if (nf < 0) continue;
        if (nf > IX_CSV_FIELDS_MAX) nf = IX_CSV_FIELDS_MAX;
        if (!header) {
            char err[200];
            if (ix_csv_header(&c, IX_NONE, "fuzz.csv", fields, nf, err, sizeof err) != 0) break;
            header = true;
            continue;
        }
        ix_csv_row(&c, line, fields, nf, strlen(ln), s);
    }
    free(copy);
}

static void write_all(const json_t *recs)
{
    static const enum ix_format fmts[] = {IX_STIX, IX_MISP, IX_TECSV};
    for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) return;
        struct ix_writer *w = ix_writer_new(fmts[k], f, NULL);
        if (w) {
            size_t i;
            const json_t *r;
            json_array_foreach(recs, i, r) ix_writer_add(w, r);
            ix_writer_finish(w, NULL);
            ix_writer_free(w);
        }
        fclose(f);
        if (fmts[k] != IX_TECSV) {
            json_error_t je;
            json_t *doc = json_loadb(buf, len, 0, &je);
            if (!doc) abort();
            json_decref(doc);
        }
        free(buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct ix_sink s = {.unit = "item", .signal = on_signal, .reject = on_other, .skip = on_other};
    uint8_t which = data[0] % 4;
    if (which == 2) {
        read_csv(text, len, &s);
        return 0;
    }
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    if (!doc) return 0;
    char err[300];
    if (which == 0) {
        ix_stix_read(doc, &s, NULL, err, sizeof err);
    } else if (which == 1) {
        ix_misp_read(doc, &s, NULL, err, sizeof err);
    } else if (json_is_array(doc)) {
        write_all(doc);
    }
    json_decref(doc);
    return 0;
}
