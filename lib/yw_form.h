/*
 * yw_form.h - an item version's application form as a small declarative definition,
 * and the validation of a submission against it. Pure C, no I/O.
 *
 * A definition is a JSON object (it travels as a google.protobuf.Struct, so every number
 * in it may arrive as a double; integral ones are taken as integers):
 *
 *   {"title": "居民身份证换领",
 *    "fields": [
 *      {"name": "applicantName", "label": "姓名", "type": "string",
 *       "prefill": "identity.name"},
 *      {"name": "reason", "label": "换领原因", "type": "enum", "required": true,
 *       "options": ["有效期满", "证件损坏", "信息变更"]},
 *      {"name": "damage", "label": "损坏情况", "type": "string", "maxLength": 200,
 *       "required": true, "when": {"field": "reason", "equals": "证件损坏"}},
 *      {"name": "children", "type": "array", "minItems": 1, "maxItems": 5,
 *       "items": {"type": "object", "fields": [
 *         {"name": "name", "type": "string", "required": true},
 *         {"name": "birthDate", "type": "date", "required": true}]}}]}
 *
 * A field: name ([A-Za-z][A-Za-z0-9_]*, at most 64 bytes, unique among its siblings;
 * an array's "items" has none), label and help (text, at most 200 bytes), type, required,
 * and by type:
 *   string        minLength, maxLength (characters; maxLength at most 10000, 2000 when
 *                 not given), pattern (a POSIX extended regular expression of at most
 *                 128 bytes, anchored by the author, with repetition counts of at most 32
 *                 and at most 8 of them), or namedPattern ("digits", "postcode",
 *                 "landline", "chinese_name")
 *   integer, number  min, max
 *   boolean
 *   date          "YYYY-MM-DD", a real day from 1900-01-01 to 2199-12-31
 *   enum          options: 1 to 200 distinct strings of at most 200 bytes
 *   id_card       GB 11643 (the check digit and birth date: yw_id_card_valid)
 *   phone         a mainland mobile number (yw_phone_valid)
 *   uscc          GB 32100 (yw_uscc_valid)
 *   email         local@domain.tld, at most 254 bytes
 *   object        fields (1 to 100)
 *   array         items (a field without a name), minItems, maxItems (at most 100; 20
 *                 when not given)
 * when: {"field": "<name>[.<name>...]", "equals": <string, number or boolean>}: the field
 *   applies only while that field of the same object (a path through its object fields,
 *   ending on a scalar one) equals the value; otherwise it must be absent.
 * prefill: "identity.name", "identity.id_number_masked", "company.name" or
 *   "company.uscc" (on a string or uscc field outside any array): the value comes from
 *   the caller, never from the submission.
 * Bounds: at most YW_FORM_MAX_FIELDS fields in all, nesting of objects and arrays at
 * most YW_FORM_MAX_DEPTH deep; a definition over them, with a key this list does not
 * name, or with a bad value is refused with the path of what is wrong.
 *
 * Validation walks the submission (a JSON object) and reports EVERY violation with its
 * path from the given root ("form.children[1].birthDate") and a reason code (below),
 * up to YW_FORM_MAX_VIOLATIONS. null counts as absent. Keys the definition does not
 * name are violations (UNKNOWN_FIELD). Prefilled fields are overwritten with the
 * caller's value, or removed when the caller has none (then a required one is
 * PREFILL_MISSING): a submitted value for them is ignored.
 *
 * 一件事一次办 (life-event bundles): yw_form_merge makes one form of the members' forms
 * (the union of their top-level fields; a field two members share must be defined alike),
 * and yw_form_project cuts a submission of the merged form back into one member's form.
 *
 * Offers: yw_form_parse, yw_form_free, yw_form_field_count, yw_form_validate,
 * yw_form_report_json, yw_form_merge, yw_form_project.
 */
#ifndef YW_FORM_H
#define YW_FORM_H

#include <jansson.h>
#include <stddef.h>

#define YW_FORM_MAX_FIELDS 200
#define YW_FORM_MAX_DEPTH 4
#define YW_FORM_MAX_VIOLATIONS 64
#define YW_FORM_PATH_MAX 160

/* Reason codes of a violation (static strings). */
#define YW_FORM_REQUIRED "REQUIRED"
#define YW_FORM_UNKNOWN_FIELD "UNKNOWN_FIELD"
#define YW_FORM_NOT_APPLICABLE "NOT_APPLICABLE" /* a value for a field whose `when` fails */
#define YW_FORM_WRONG_TYPE "WRONG_TYPE"
#define YW_FORM_TOO_SHORT "TOO_SHORT"
#define YW_FORM_TOO_LONG "TOO_LONG"
#define YW_FORM_TOO_SMALL "TOO_SMALL"
#define YW_FORM_TOO_LARGE "TOO_LARGE"
#define YW_FORM_NOT_AN_OPTION "NOT_AN_OPTION"
#define YW_FORM_PATTERN_MISMATCH "PATTERN_MISMATCH"
#define YW_FORM_BAD_DATE "BAD_DATE"
#define YW_FORM_BAD_ID_CARD "BAD_ID_CARD"
#define YW_FORM_BAD_PHONE "BAD_PHONE"
#define YW_FORM_BAD_USCC "BAD_USCC"
#define YW_FORM_BAD_EMAIL "BAD_EMAIL"
#define YW_FORM_TOO_FEW_ITEMS "TOO_FEW_ITEMS"
#define YW_FORM_TOO_MANY_ITEMS "TOO_MANY_ITEMS"
#define YW_FORM_PREFILL_MISSING "PREFILL_MISSING"

typedef struct yw_form yw_form;

/* Why a definition was refused: the path inside the definition ("fields[2].options[0]",
 * "" for the whole) and a sentence. */
typedef struct yw_form_error {
  char path[YW_FORM_PATH_MAX];
  char reason[160];
} yw_form_error;

typedef struct yw_form_violation {
  char path[YW_FORM_PATH_MAX]; /* truncated past YW_FORM_PATH_MAX - 1 bytes */
  const char *reason;          /* one of YW_FORM_* above */
} yw_form_violation;

typedef struct yw_form_report {
  yw_form_violation v[YW_FORM_MAX_VIOLATIONS];
  size_t n;
  int truncated; /* more violations than room */
} yw_form_report;

/* The caller's values of the prefill sources; NULL or "" when the caller has none. */
typedef struct yw_form_prefill {
  const char *identity_name;
  const char *identity_id_number_masked;
  const char *company_name;
  const char *company_uscc;
} yw_form_prefill;

/* The values data (a validated submission) holds at f's prefilled fields, per source:
 * the first string found for each, pointers into data (they live as long as it); NULL
 * for a source no field of data holds. A filed form's prefilled values are the ones it
 * was given, so a resubmission keeps them. */
void yw_form_prefill_read(const yw_form *f, const json_t *data, yw_form_prefill *out);

/*
 * Parses and checks a definition. def is only read (the caller keeps its reference).
 * Returns 0 with *out (free with yw_form_free), YW_EINVAL with err filled, or YW_ENOMEM.
 */
int yw_form_parse(const json_t *def, yw_form **out, yw_form_error *err);

/* Frees f; NULL is fine. */
void yw_form_free(yw_form *f);

/* How many fields the definition holds in all (array items count as fields). */
size_t yw_form_field_count(const yw_form *f);

/* Which prefill sources the definition's fields use, OR-ed (0: none; f NULL: none). */
#define YW_FORM_PREFILL_IDENTITY_NAME 1u
#define YW_FORM_PREFILL_IDENTITY_ID_NUMBER_MASKED 2u
#define YW_FORM_PREFILL_COMPANY_NAME 4u
#define YW_FORM_PREFILL_COMPANY_USCC 8u
unsigned yw_form_prefill_sources(const yw_form *f);

/*
 * Validates data (a JSON object, modified in place: prefilled fields set or removed)
 * against f. root names the data in paths ("form"). pre may be NULL (no sources).
 * Returns 0 when it is valid (rep->n == 0), YW_EINVAL with rep listing the violations
 * in the order of the definition (then unknown keys), or YW_ENOMEM. f may be shared by
 * threads; data and rep belong to the caller.
 */
int yw_form_validate(const yw_form *f, json_t *data, const char *root, const yw_form_prefill *pre,
                     yw_form_report *rep);

/*
 * Merges the definitions defs[0..n) (each one yw_form_parse takes; a NULL entry is a
 * member without a form) into one titled title (NULL: none): their top-level fields in
 * order, a field of a name seen before left out when it is defined the same (JSON-equal),
 * refused when it is not (err: "members[i].fields[k]", "field <name> differs from an
 * earlier member's"). The result is checked with yw_form_parse (the bounds hold for the
 * union too). Returns 0 with *out (a new reference), YW_EINVAL (err), or YW_ENOMEM.
 */
int yw_form_merge(const json_t *const *defs, size_t n, const char *title, json_t **out,
                  yw_form_error *err);

/*
 * The part of data (a submission of a merged form) that member definition def names:
 * a new object holding data's values of def's top-level fields (NULL def: {}).
 * Returns a new reference, or NULL on allocation failure.
 */
json_t *yw_form_project(const json_t *def, const json_t *data);

/* The report as a JSON array [{"field": path, "reason": code}, ...] (a new reference,
 * NULL on allocation failure). */
json_t *yw_form_report_json(const yw_form_report *rep);

#endif
