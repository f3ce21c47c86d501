/*
 * fuzz_form.c - form definitions as the catalog stores them and submissions against
 * them (lib/yw_form.c). The input is a definition's JSON text, a NUL byte, then a
 * submission's JSON text (no NUL: the definition alone, validated against {}).
 *
 * Properties: a refused definition names a reason; an accepted one holds at most
 * YW_FORM_MAX_FIELDS fields; validation answers 0 exactly when it reports nothing, at
 * most YW_FORM_MAX_VIOLATIONS violations, each with a path under the root and a reason;
 * the report is JSON of as many entries; and the submission as validation left it (the
 * prefilled fields set) gives the same answer when validated again. A bundle of the
 * form with itself merges to the same fields, and the submission projected onto the
 * form keeps only keys the form names, with the submission's values.
 */
#include <string.h>

#include "fuzz.h"
#include "yw_err.h"
#include "yw_form.h"

static const yw_form_prefill PRE = {"王小明", "1101**********002X", "连云港某某有限公司",
                                    "91350100M000100Y43"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  const char *text = (const char *)data;
  const char *nul = memchr(text, '\0', size);
  size_t dlen = nul != NULL ? (size_t)(nul - text) : size;
  json_error_t jerr;
  json_t *def = json_loadb(text, dlen, JSON_DECODE_ANY, &jerr);
  if (def == NULL) return 0;
  yw_form *f = NULL;
  yw_form_error err;
  int rc = yw_form_parse(def, &f, &err);
  if (rc != 0) {
    json_decref(def);
    FUZZ_CHECK(rc == YW_EINVAL && f == NULL && err.reason[0] != '\0');
    return 0;
  }
  const json_t *twice[] = {def, def};
  json_t *merged = NULL;
  FUZZ_CHECK(yw_form_merge(twice, 2, NULL, &merged, &err) == 0);
  FUZZ_CHECK(json_equal(json_object_get(merged, "fields"), json_object_get(def, "fields")));
  json_decref(merged);
  FUZZ_CHECK(f != NULL && yw_form_field_count(f) >= 1 &&
             yw_form_field_count(f) <= YW_FORM_MAX_FIELDS);
  json_t *sub = nul != NULL ? json_loadb(nul + 1, size - dlen - 1, JSON_DECODE_ANY, &jerr)
                            : json_object();
  if (sub == NULL) {
    json_decref(def);
    yw_form_free(f);
    return 0;
  }
  static yw_form_report rep, again;
  rc = yw_form_validate(f, sub, "form", (size & 1) ? &PRE : NULL, &rep);
  FUZZ_CHECK(rc == 0 || rc == YW_EINVAL);
  FUZZ_CHECK((rc == 0) == (rep.n == 0));
  FUZZ_CHECK(rep.n <= YW_FORM_MAX_VIOLATIONS);
  for (size_t i = 0; i < rep.n; i++) {
    FUZZ_CHECK(strncmp(rep.v[i].path, "form", 4) == 0 && rep.v[i].reason != NULL);
  }
  json_t *part = yw_form_project(def, sub);
  FUZZ_CHECK(part != NULL);
  const char *key;
  json_t *val;
  json_object_foreach(part, key, val) {
    FUZZ_CHECK(json_object_get(sub, key) == val);
  }
  json_decref(part);
  json_decref(def);
  json_t *j = yw_form_report_json(&rep);
  FUZZ_CHECK(j != NULL && json_array_size(j) == rep.n);
  json_decref(j);
  int rc2 = yw_form_validate(f, sub, "form", (size & 1) ? &PRE : NULL, &again);
  FUZZ_CHECK(rc2 == rc && again.n == rep.n);
  for (size_t i = 0; i < rep.n; i++)
    FUZZ_CHECK(strcmp(again.v[i].path, rep.v[i].path) == 0 &&
               strcmp(again.v[i].reason, rep.v[i].reason) == 0);
  json_decref(sub);
  yw_form_free(f);
  return 0;
}
