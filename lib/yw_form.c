/*
 * yw_form.c - form definitions of item versions and the validation of submissions.
 *
 * A definition is parsed once into a tree of fields (struct field), each with its rules
 * resolved: the type, bounds as numbers, a compiled regular expression, the `when`
 * condition as the path of the field it looks at. Validation walks the definition and
 * the data side by side, so its cost is bounded by the definition (at most
 * YW_FORM_MAX_FIELDS fields, arrays of at most 100 elements) and the data's size, and
 * every violation is recorded with its path instead of stopping at the first.
 *
 * Regular expressions: glibc's regexec has no backreferences in EREs and matches without
 * backtracking, but regcomp expands counted repetitions, so counts are bounded (at most
 * 32, at most 8 of them) as is the pattern's length and the length of a value matched.
 *
 * Offers: yw_form_parse, yw_form_free, yw_form_field_count, yw_form_prefill_sources,
 * yw_form_prefill_read, yw_form_validate,
 * yw_form_report_json, yw_form_merge, yw_form_project.
 */
#include "yw_form.h"

#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_crypto.h"
#include "yw_err.h"

#define NAME_MAX_BYTES 64
#define TEXT_MAX_BYTES 200
#define OPTIONS_MAX 200
#define OBJECT_FIELDS_MAX 100
#define ITEMS_MAX 100
#define ITEMS_DEFAULT 20
#define STRING_MAX 10000
#define STRING_DEFAULT 2000
#define PATTERN_MAX_BYTES 128
#define PATTERN_COUNT_MAX 32
#define PATTERN_BRACES_MAX 8
#define PATTERN_EXPANSION_MAX 2048 /* weight of the tree regcomp builds, see below */
#define PATTERN_VALUE_MAX 1024 /* bytes of a value a pattern is run on */
#define WHEN_DEPTH_MAX 4

enum ftype {
  T_STRING, T_INTEGER, T_NUMBER, T_BOOLEAN, T_DATE, T_ENUM, T_ID_CARD, T_PHONE, T_USCC,
  T_EMAIL, T_OBJECT, T_ARRAY
};

static const char *const TYPE_NAMES[] = {"string", "integer", "number", "boolean",
                                         "date",   "enum",    "id_card", "phone",
                                         "uscc",   "email",   "object", "array"};

enum named { NP_NONE, NP_DIGITS, NP_POSTCODE, NP_LANDLINE, NP_CHINESE_NAME };
static const char *const NAMED_PATTERNS[] = {"", "digits", "postcode", "landline",
                                             "chinese_name"};

enum prefill { PF_NONE, PF_ID_NAME, PF_ID_NUMBER_MASKED, PF_COMPANY_NAME, PF_COMPANY_USCC };
static const char *const PREFILLS[] = {"", "identity.name", "identity.id_number_masked",
                                       "company.name", "company.uscc"};

struct field {
  char name[NAME_MAX_BYTES + 1]; /* "" for an array's items */
  enum ftype type;
  int required;
  long long min_len, max_len;    /* string: characters */
  int has_min, has_max;
  double min, max;               /* integer, number */
  size_t min_items, max_items;   /* array */
  char **options;                /* enum */
  size_t n_options;
  int has_re;
  regex_t re;
  enum named named;
  enum prefill prefill;
  char **when_path;              /* the `when` field's path, segments; NULL when none */
  size_t n_when;
  json_t *when_equals;           /* owned */
  struct field *fields;          /* object */
  size_t n_fields;
  struct field *items;           /* array */
};

struct yw_form {
  struct field root; /* an object */
  size_t count;
};

/* ---- parsing --------------------------------------------------------------------- */

struct parse {
  yw_form_error *err;
  size_t count;
  int nomem;
};

/* snprintf for paths: a path longer than its buffer is cut short, on purpose. */
static void pathf(char *out, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, size, fmt, ap);
  va_end(ap);
}

static int fail(struct parse *p, const char *path, const char *fmt, ...) {
  if (p->err != NULL) {
    pathf(p->err->path, sizeof p->err->path, "%s", path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->reason, sizeof p->err->reason, fmt, ap);
    va_end(ap);
  }
  return YW_EINVAL;
}

static void field_free(struct field *f) {
  if (f == NULL) return;
  for (size_t i = 0; i < f->n_options; i++) free(f->options[i]);
  free(f->options);
  if (f->has_re) regfree(&f->re);
  for (size_t i = 0; i < f->n_when; i++) free(f->when_path[i]);
  free(f->when_path);
  json_decref(f->when_equals);
  for (size_t i = 0; i < f->n_fields; i++) field_free(&f->fields[i]);
  free(f->fields);
  if (f->items != NULL) {
    field_free(f->items);
    free(f->items);
  }
}

static int valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > NAME_MAX_BYTES || !isalpha((unsigned char)s[0])) return 0;
  for (size_t i = 1; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_') return 0;
  return 1;
}

/* A JSON number that is a whole number within +-2^53 into *out. */
static int whole(const json_t *v, long long *out) {
  if (json_is_integer(v)) {
    json_int_t i = json_integer_value(v);
    if (i > (1LL << 53) || i < -(1LL << 53)) return 0;
    *out = (long long)i;
    return 1;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0) return 0;
    *out = (long long)d;
    return 1;
  }
  return 0;
}

/* A count key of the field (minLength ...) within [lo, hi]; *present says whether given. */
static int count_key(struct parse *p, const json_t *obj, const char *key, const char *path,
                     long long lo, long long hi, long long *out, int *present) {
  const json_t *v = json_object_get(obj, key);
  *present = 0;
  if (v == NULL || json_is_null(v)) return 0;
  long long n = 0;
  if (!whole(v, &n) || n < lo || n > hi)
    return fail(p, path, "%s must be a whole number from %lld to %lld", key, lo, hi);
  *out = n;
  *present = 1;
  return 0;
}

static int text_key(struct parse *p, const json_t *obj, const char *key, const char *path) {
  const json_t *v = json_object_get(obj, key);
  if (v == NULL || json_is_null(v)) return 0;
  if (!json_is_string(v) || json_string_length(v) > TEXT_MAX_BYTES)
    return fail(p, path, "%s must be text of at most %d bytes", key, TEXT_MAX_BYTES);
  return 0;
}

/* Bounds what regcomp will expand: counted repetitions of at most PATTERN_COUNT_MAX, at
 * most PATTERN_BRACES_MAX of them. */
static int pattern_bounded(const char *s) {
  int braces = 0;
  for (size_t i = 0; s[i] != '\0'; i++) {
    if (s[i] == '\\' && s[i + 1] != '\0') {
      i++;
      continue;
    }
    if (s[i] != '{') continue;
    if (++braces > PATTERN_BRACES_MAX) return 0;
    size_t j = i + 1;
    while (s[j] != '\0' && s[j] != '}') {
      if (isdigit((unsigned char)s[j])) {
        long n = 0;
        while (isdigit((unsigned char)s[j]) && n <= PATTERN_COUNT_MAX) n = n * 10 + (s[j++] - '0');
        if (n > PATTERN_COUNT_MAX) return 0;
        continue;
      }
      if (s[j] != ',') return 0;
      j++;
    }
    if (s[j] != '}') return 0;
    i = j;
  }
  return 1;
}

/* What pattern_shape finds wrong with a pattern, beyond what regcomp refuses. */
enum { SHAPE_OK, SHAPE_HEAVY, SHAPE_EMPTY_LOOP };

/* Bounds the work regcomp does on a pattern.
 * - It copies the operand of a counted repetition once per count, and of `+` twice, so
 *   nested repetitions multiply: ((a{32}){32}){32} or forty nested `(…)+` pass the
 *   per-count bound yet expand past any memory. Each atom weighs 1 and each repetition
 *   multiplies its operand; a pattern heavier than PATTERN_EXPANSION_MAX is SHAPE_HEAVY.
 * - Its epsilon closures grow exponentially when loops nest over operands that match the
 *   empty string (((($(()+)+)+)+)+ takes minutes), so a loop (*, +, a count above 1) on
 *   an operand that can match nothing is SHAPE_EMPTY_LOOP. Such a loop never means more
 *   than its operand with `?`.
 * The walk reads the pattern as regcomp does; what is malformed is left for regcomp. */
static int pattern_shape(const char *s) {
  enum { D = PATTERN_MAX_BYTES + 2 };
  long seq[D];     /* weight of the open group at each depth */
  long last[D];    /* weight of its last atom, the operand of a repetition */
  char empty[D];   /* the alternative being read can match the empty string so far */
  char before[D];  /* ... as it was before the last atom */
  char last_e[D];  /* the last atom can match the empty string */
  char any_e[D];   /* a finished alternative of the group can */
  int d = 0;
  seq[0] = last[0] = 0;
  empty[0] = before[0] = 1;
  last_e[0] = any_e[0] = 0;
  for (size_t i = 0; s[i] != '\0'; i++) {
    char c = s[i];
    long atom = -1, times = 0;
    int atom_e = 0, loops = 0, result_e = 0;
    if (c == '(') {
      if (d + 1 >= D) return SHAPE_HEAVY;
      d++;
      seq[d] = last[d] = 0;
      empty[d] = before[d] = 1;
      last_e[d] = any_e[d] = 0;
      continue;
    } else if (c == ')' && d > 0) {
      atom_e = any_e[d] || empty[d];
      atom = seq[d--] + 1;
    } else if (c == '|') {
      any_e[d] = any_e[d] || empty[d];
      empty[d] = before[d] = 1;
      last[d] = 0;
      seq[d] += 1;
      continue;
    } else if ((c == '*' || c == '?' || c == '+' || c == '{') && last[d] > 0) {
      if (c == '{') {
        long m = 0, n = -1;
        size_t j = i + 1;
        while (isdigit((unsigned char)s[j]) && m <= PATTERN_COUNT_MAX) m = m * 10 + (s[j++] - '0');
        if (s[j] == ',') {
          j++;
          if (isdigit((unsigned char)s[j])) {
            n = 0;
            while (isdigit((unsigned char)s[j]) && n <= PATTERN_COUNT_MAX) n = n * 10 + (s[j++] - '0');
          } else {
            n = m + 1; /* {m,}: m copies and a star */
          }
        }
        if (s[j] != '}') return SHAPE_OK;
        times = (n > m ? n : m) + 1;
        loops = n > 1 || m > 1;
        result_e = m == 0 || last_e[d];
        i = j;
      } else {
        times = c == '+' ? 2 : 1;
        loops = c != '?';
        result_e = c != '+' || last_e[d];
      }
      if (loops && last_e[d]) return SHAPE_EMPTY_LOOP;
    } else if (c == '[') {
      size_t j = i + 1;
      if (s[j] == '^') j++;
      if (s[j] == ']') j++;
      while (s[j] != '\0' && s[j] != ']') {
        if (s[j] == '[' && (s[j + 1] == ':' || s[j + 1] == '.' || s[j + 1] == '=')) {
          char close = s[j + 1];
          j += 2;
          while (s[j] != '\0' && !(s[j] == close && s[j + 1] == ']')) j++;
          if (s[j] == '\0') return SHAPE_OK;
          j += 2;
          continue;
        }
        j++;
      }
      if (s[j] == '\0') return SHAPE_OK;
      i = j;
      atom = 1;
    } else if (c == '^' || c == '$') {
      atom = 1;
      atom_e = 1;
    } else {
      if (c == '\\' && s[i + 1] != '\0') {
        i++;
        atom_e = strchr("bB<>`'", s[i]) != NULL; /* the anchors among the escapes */
      }
      atom = 1;
    }
    if (atom >= 0) {
      before[d] = empty[d];
      last[d] = atom;
      last_e[d] = (char)atom_e;
      empty[d] = empty[d] && atom_e;
      seq[d] += atom;
    } else {
      /* the operand now weighs `times` as much, plus the repetition's own node */
      long grown = last[d] * times + 1;
      seq[d] += grown - last[d];
      last[d] = grown;
      last_e[d] = (char)result_e;
      empty[d] = before[d] && result_e;
    }
    if (seq[d] > PATTERN_EXPANSION_MAX || last[d] > PATTERN_EXPANSION_MAX) return SHAPE_HEAVY;
  }
  return SHAPE_OK;
}

static int parse_field(struct parse *p, const json_t *obj, const char *path, int depth,
                       int in_array, int is_items, struct field *f);

static const char *const FIELD_KEYS[] = {
    "name",      "label",   "help",     "type",         "required", "minLength",
    "maxLength", "min",     "max",      "pattern",      "namedPattern", "options",
    "when",      "prefill", "fields",   "items",        "minItems", "maxItems",
    "placeholder", NULL};

/* The `fields` list of an object field (or of the whole form) into f. */
static int parse_fields(struct parse *p, const json_t *list, const char *path, int depth,
                        int in_array, struct field *f) {
  char sub[YW_FORM_PATH_MAX];
  pathf(sub, sizeof sub, "%s%sfields", path, path[0] != '\0' ? "." : "");
  size_t n = json_array_size(list);
  if (!json_is_array(list) || n == 0 || n > OBJECT_FIELDS_MAX)
    return fail(p, sub, "fields must be a list of 1 to %d fields", OBJECT_FIELDS_MAX);
  f->fields = calloc(n, sizeof *f->fields);
  if (f->fields == NULL) {
    p->nomem = 1;
    return YW_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    char fp[YW_FORM_PATH_MAX];
    pathf(fp, sizeof fp, "%s[%zu]", sub, i);
    f->n_fields = i + 1;
    int rc = parse_field(p, json_array_get(list, i), fp, depth, in_array, 0, &f->fields[i]);
    if (rc != 0) return rc;
    for (size_t k = 0; k < i; k++)
      if (strcmp(f->fields[k].name, f->fields[i].name) == 0)
        return fail(p, fp, "name %s is used twice", f->fields[i].name);
  }
  return 0;
}

/* The `when` of the fields of object f: each names a scalar field of f (a path through
 * f's object fields). */
static int check_whens(struct parse *p, const struct field *f, const char *path) {
  for (size_t i = 0; i < f->n_fields; i++) {
    const struct field *c = &f->fields[i];
    if (c->when_path == NULL) continue;
    const struct field *at = f;
    const struct field *found = NULL;
    for (size_t s = 0; s < c->n_when; s++) {
      found = NULL;
      for (size_t k = 0; at != NULL && k < at->n_fields; k++)
        if (strcmp(at->fields[k].name, c->when_path[s]) == 0) found = &at->fields[k];
      if (found == NULL) break;
      at = found->type == T_OBJECT ? found : NULL;
    }
    char fp[YW_FORM_PATH_MAX];
    pathf(fp, sizeof fp, "%s%sfields[%zu].when.field", path, path[0] != '\0' ? "." : "", i);
    if (found == NULL || found == c || found->type == T_OBJECT || found->type == T_ARRAY)
      return fail(p, fp, "when.field must name another scalar field of the same object");
  }
  return 0;
}

static int parse_when(struct parse *p, const json_t *w, const char *path, struct field *f) {
  char wp[YW_FORM_PATH_MAX];
  pathf(wp, sizeof wp, "%s.when", path);
  const char *key;
  json_t *v;
  if (!json_is_object(w)) return fail(p, wp, "when must be {\"field\": ..., \"equals\": ...}");
  json_object_foreach((json_t *)w, key, v) {
    if (strcmp(key, "field") != 0 && strcmp(key, "equals") != 0)
      return fail(p, wp, "when has no key %.40s", key);
  }
  const char *target = json_string_value(json_object_get(w, "field"));
  const json_t *eq = json_object_get(w, "equals");
  if (target == NULL || strlen(target) > 4 * (NAME_MAX_BYTES + 1))
    return fail(p, wp, "when.field must name a field");
  if (eq == NULL || !(json_is_string(eq) || json_is_number(eq) || json_is_boolean(eq)) ||
      (json_is_string(eq) && json_string_length(eq) > TEXT_MAX_BYTES))
    return fail(p, wp, "when.equals must be a string, a number or a boolean");
  f->when_path = calloc(WHEN_DEPTH_MAX, sizeof *f->when_path);
  if (f->when_path == NULL) goto nomem;
  const char *s = target;
  for (;;) {
    const char *dot = strchr(s, '.');
    size_t len = dot != NULL ? (size_t)(dot - s) : strlen(s);
    if (f->n_when == WHEN_DEPTH_MAX || len == 0 || len > NAME_MAX_BYTES)
      return fail(p, wp, "when.field must name a field");
    f->when_path[f->n_when] = strndup(s, len);
    if (f->when_path[f->n_when] == NULL) goto nomem;
    f->n_when++;
    if (!valid_name(f->when_path[f->n_when - 1]))
      return fail(p, wp, "when.field must name a field");
    if (dot == NULL) break;
    s = dot + 1;
  }
  f->when_equals = json_deep_copy(eq);
  if (f->when_equals == NULL) goto nomem;
  return 0;
nomem:
  p->nomem = 1;
  return YW_ENOMEM;
}

static int parse_field(struct parse *p, const json_t *obj, const char *path, int depth,
                       int in_array, int is_items, struct field *f) {
  memset(f, 0, sizeof *f);
  if (!json_is_object(obj)) return fail(p, path, "a field must be an object");
  if (++p->count > YW_FORM_MAX_FIELDS)
    return fail(p, path, "a form holds at most %d fields", YW_FORM_MAX_FIELDS);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    size_t k = 0;
    while (FIELD_KEYS[k] != NULL && strcmp(FIELD_KEYS[k], key) != 0) k++;
    if (FIELD_KEYS[k] == NULL) return fail(p, path, "a field has no key %.40s", key);
  }
  const json_t *name = json_object_get(obj, "name");
  if (is_items) {
    if (name != NULL && !json_is_null(name)) return fail(p, path, "items have no name");
  } else {
    const char *s = json_string_value(name);
    if (s == NULL || !valid_name(s))
      return fail(p, path,
                  "name must be a letter then letters, digits or '_', at most %d bytes",
                  NAME_MAX_BYTES);
    pathf(f->name, sizeof f->name, "%s", s);
  }
  int rc;
  if ((rc = text_key(p, obj, "label", path)) != 0 || (rc = text_key(p, obj, "help", path)) != 0 ||
      (rc = text_key(p, obj, "placeholder", path)) != 0)
    return rc;
  const char *type = json_string_value(json_object_get(obj, "type"));
  size_t t = 0;
  while (type != NULL && t < sizeof TYPE_NAMES / sizeof TYPE_NAMES[0] &&
         strcmp(TYPE_NAMES[t], type) != 0)
    t++;
  if (type == NULL || t == sizeof TYPE_NAMES / sizeof TYPE_NAMES[0])
    return fail(p, path,
                "type must be string, integer, number, boolean, date, enum, id_card, phone, "
                "uscc, email, object or array");
  f->type = (enum ftype)t;
  const json_t *req = json_object_get(obj, "required");
  if (req != NULL && !json_is_null(req) && !json_is_boolean(req))
    return fail(p, path, "required must be true or false");
  f->required = json_is_true(req);

  /* which keys belong to which type */
  int is_string = f->type == T_STRING;
  int is_num = f->type == T_INTEGER || f->type == T_NUMBER;
  struct { const char *key; int ok; } belong[] = {
      {"minLength", is_string},         {"maxLength", is_string},
      {"pattern", is_string},           {"namedPattern", is_string},
      {"min", is_num},                  {"max", is_num},
      {"options", f->type == T_ENUM},   {"fields", f->type == T_OBJECT},
      {"items", f->type == T_ARRAY},    {"minItems", f->type == T_ARRAY},
      {"maxItems", f->type == T_ARRAY},
  };
  for (size_t i = 0; i < sizeof belong / sizeof belong[0]; i++) {
    const json_t *b = json_object_get(obj, belong[i].key);
    if (b != NULL && !json_is_null(b) && !belong[i].ok)
      return fail(p, path, "%s does not apply to a field of type %s", belong[i].key, type);
  }

  if (is_string) {
    long long lo = 0, hi = STRING_DEFAULT;
    int has_lo = 0, has_hi = 0;
    if ((rc = count_key(p, obj, "minLength", path, 0, STRING_MAX, &lo, &has_lo)) != 0 ||
        (rc = count_key(p, obj, "maxLength", path, 1, STRING_MAX, &hi, &has_hi)) != 0)
      return rc;
    if (lo > hi) return fail(p, path, "minLength is more than maxLength");
    f->min_len = lo;
    f->max_len = hi;
    const json_t *pat = json_object_get(obj, "pattern");
    const json_t *named = json_object_get(obj, "namedPattern");
    if (pat != NULL && !json_is_null(pat) && named != NULL && !json_is_null(named))
      return fail(p, path, "a field has a pattern or a namedPattern, not both");
    if (pat != NULL && !json_is_null(pat)) {
      const char *s = json_string_value(pat);
      if (s == NULL || s[0] == '\0' || json_string_length(pat) > PATTERN_MAX_BYTES ||
          strlen(s) != json_string_length(pat))
        return fail(p, path, "pattern must be a regular expression of 1 to %d bytes",
                    PATTERN_MAX_BYTES);
      if (!pattern_bounded(s))
        return fail(p, path, "pattern repetition counts must be at most %d, at most %d of them",
                    PATTERN_COUNT_MAX, PATTERN_BRACES_MAX);
      int shape = pattern_shape(s);
      if (shape == SHAPE_HEAVY) return fail(p, path, "pattern nests its repetitions too deeply");
      if (shape == SHAPE_EMPTY_LOOP)
        return fail(p, path, "pattern repeats a part that can match nothing");
      int cr = regcomp(&f->re, s, REG_EXTENDED | REG_NOSUB);
      if (cr == REG_ESPACE) {
        p->nomem = 1;
        return YW_ENOMEM;
      }
      if (cr != 0) return fail(p, path, "pattern is not a POSIX extended regular expression");
      f->has_re = 1;
    }
    if (named != NULL && !json_is_null(named)) {
      const char *s = json_string_value(named);
      size_t k = 1;
      while (s != NULL && k < sizeof NAMED_PATTERNS / sizeof NAMED_PATTERNS[0] &&
             strcmp(NAMED_PATTERNS[k], s) != 0)
        k++;
      if (s == NULL || k == sizeof NAMED_PATTERNS / sizeof NAMED_PATTERNS[0])
        return fail(p, path, "namedPattern must be digits, postcode, landline or chinese_name");
      f->named = (enum named)k;
    }
  }
  if (is_num) {
    const json_t *mn = json_object_get(obj, "min"), *mx = json_object_get(obj, "max");
    if (mn != NULL && !json_is_null(mn)) {
      if (!json_is_number(mn) || !isfinite(json_number_value(mn)))
        return fail(p, path, "min must be a number");
      f->has_min = 1;
      f->min = json_number_value(mn);
    }
    if (mx != NULL && !json_is_null(mx)) {
      if (!json_is_number(mx) || !isfinite(json_number_value(mx)))
        return fail(p, path, "max must be a number");
      f->has_max = 1;
      f->max = json_number_value(mx);
    }
    if (f->has_min && f->has_max && f->min > f->max) return fail(p, path, "min is more than max");
  }
  if (f->type == T_ENUM) {
    const json_t *opts = json_object_get(obj, "options");
    size_t n = json_array_size(opts);
    if (!json_is_array(opts) || n == 0 || n > OPTIONS_MAX)
      return fail(p, path, "options must be a list of 1 to %d strings", OPTIONS_MAX);
    f->options = calloc(n, sizeof *f->options);
    if (f->options == NULL) goto nomem;
    for (size_t i = 0; i < n; i++) {
      const json_t *o = json_array_get(opts, i);
      char op[YW_FORM_PATH_MAX];
      pathf(op, sizeof op, "%s.options[%zu]", path, i);
      if (!json_is_string(o) || json_string_length(o) == 0 ||
          json_string_length(o) > TEXT_MAX_BYTES ||
          strlen(json_string_value(o)) != json_string_length(o))
        return fail(p, op, "an option is text of 1 to %d bytes", TEXT_MAX_BYTES);
      for (size_t k = 0; k < f->n_options; k++)
        if (strcmp(f->options[k], json_string_value(o)) == 0)
          return fail(p, op, "an option is listed twice");
      f->options[i] = strdup(json_string_value(o));
      if (f->options[i] == NULL) goto nomem;
      f->n_options = i + 1;
    }
  }
  if (f->type == T_OBJECT || f->type == T_ARRAY) {
    if (depth + 1 > YW_FORM_MAX_DEPTH)
      return fail(p, path, "objects and arrays nest at most %d deep", YW_FORM_MAX_DEPTH);
  }
  if (f->type == T_OBJECT) {
    if ((rc = parse_fields(p, json_object_get(obj, "fields"), path, depth + 1, in_array, f)) != 0)
      return rc;
    if ((rc = check_whens(p, f, path)) != 0) return rc;
  }
  if (f->type == T_ARRAY) {
    long long lo = 0, hi = ITEMS_DEFAULT;
    int has_lo = 0, has_hi = 0;
    if ((rc = count_key(p, obj, "minItems", path, 0, ITEMS_MAX, &lo, &has_lo)) != 0 ||
        (rc = count_key(p, obj, "maxItems", path, 1, ITEMS_MAX, &hi, &has_hi)) != 0)
      return rc;
    if (lo > hi) return fail(p, path, "minItems is more than maxItems");
    f->min_items = (size_t)lo;
    f->max_items = (size_t)hi;
    const json_t *items = json_object_get(obj, "items");
    char ip[YW_FORM_PATH_MAX];
    pathf(ip, sizeof ip, "%s.items", path);
    if (items == NULL) return fail(p, ip, "an array needs items");
    f->items = calloc(1, sizeof *f->items);
    if (f->items == NULL) goto nomem;
    if ((rc = parse_field(p, items, ip, depth + 1, 1, 1, f->items)) != 0) return rc;
    if (f->items->when_path != NULL) return fail(p, ip, "items have no when");
    if (f->items->required) return fail(p, ip, "items are not required: use minItems");
  }
  const json_t *when = json_object_get(obj, "when");
  if (when != NULL && !json_is_null(when)) {
    if (is_items) return fail(p, path, "items have no when");
    if ((rc = parse_when(p, when, path, f)) != 0) return rc;
  }
  const json_t *pre = json_object_get(obj, "prefill");
  if (pre != NULL && !json_is_null(pre)) {
    const char *s = json_string_value(pre);
    size_t k = 1;
    while (s != NULL && k < sizeof PREFILLS / sizeof PREFILLS[0] && strcmp(PREFILLS[k], s) != 0)
      k++;
    if (s == NULL || k == sizeof PREFILLS / sizeof PREFILLS[0])
      return fail(p, path,
                  "prefill must be identity.name, identity.id_number_masked, company.name or "
                  "company.uscc");
    if (in_array || is_items) return fail(p, path, "a field inside an array is not prefilled");
    if (f->type != T_STRING && !(f->type == T_USCC && k == PF_COMPANY_USCC))
      return fail(p, path, "a prefilled field is a string (or uscc for company.uscc)");
    f->prefill = (enum prefill)k;
  }
  return 0;
nomem:
  p->nomem = 1;
  return YW_ENOMEM;
}

int yw_form_parse(const json_t *def, yw_form **out, yw_form_error *err) {
  *out = NULL;
  if (err != NULL) memset(err, 0, sizeof *err);
  struct parse p = {err, 0, 0};
  if (!json_is_object(def)) return fail(&p, "", "a form definition is an object with fields");
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)def, key, v) {
    if (strcmp(key, "fields") != 0 && strcmp(key, "title") != 0)
      return fail(&p, "", "a form definition has no key %.40s", key);
  }
  int rc = text_key(&p, def, "title", "");
  if (rc != 0) return rc;
  yw_form *f = calloc(1, sizeof *f);
  if (f == NULL) return YW_ENOMEM;
  f->root.type = T_OBJECT;
  rc = parse_fields(&p, json_object_get(def, "fields"), "", 0, 0, &f->root);
  if (rc == 0) rc = check_whens(&p, &f->root, "");
  if (rc != 0) {
    yw_form_free(f);
    return p.nomem ? YW_ENOMEM : rc;
  }
  f->count = p.count;
  *out = f;
  return 0;
}

void yw_form_free(yw_form *f) {
  if (f == NULL) return;
  field_free(&f->root);
  free(f);
}

size_t yw_form_field_count(const yw_form *f) { return f != NULL ? f->count : 0; }

static unsigned prefill_sources(const struct field *f) {
  unsigned out = f->prefill != PF_NONE ? 1u << (f->prefill - 1) : 0;
  for (size_t i = 0; i < f->n_fields; i++) out |= prefill_sources(&f->fields[i]);
  return out; /* arrays hold no prefilled fields */
}

unsigned yw_form_prefill_sources(const yw_form *f) {
  return f != NULL ? prefill_sources(&f->root) : 0;
}

static void prefill_read(const struct field *f, const json_t *obj, yw_form_prefill *out) {
  for (size_t i = 0; i < f->n_fields; i++) {
    const struct field *c = &f->fields[i];
    const json_t *v = json_object_get(obj, c->name);
    if (c->type == T_OBJECT && json_is_object(v)) prefill_read(c, v, out);
    if (c->prefill == PF_NONE || !json_is_string(v)) continue;
    const char **slot = c->prefill == PF_ID_NAME             ? &out->identity_name
                        : c->prefill == PF_ID_NUMBER_MASKED  ? &out->identity_id_number_masked
                        : c->prefill == PF_COMPANY_NAME      ? &out->company_name
                                                             : &out->company_uscc;
    if (*slot == NULL) *slot = json_string_value(v);
  }
}

void yw_form_prefill_read(const yw_form *f, const json_t *data, yw_form_prefill *out) {
  memset(out, 0, sizeof *out);
  if (f != NULL && json_is_object(data)) prefill_read(&f->root, data, out);
}

/* ---- validation ------------------------------------------------------------------ */

static void report(yw_form_report *rep, const char *path, const char *reason) {
  if (rep->n == YW_FORM_MAX_VIOLATIONS) {
    rep->truncated = 1;
    return;
  }
  char *out = rep->v[rep->n].path;
  pathf(out, sizeof rep->v[rep->n].path, "%s", path);
  /* a path cut short ends on a whole UTF-8 character */
  size_t n = strlen(out);
  if (n == sizeof rep->v[rep->n].path - 1) {
    size_t k = n;
    while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80) k--;
    if (k > 0 && ((unsigned char)out[k - 1] & 0x80) != 0) {
      unsigned char lead = (unsigned char)out[k - 1];
      size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      if (n - (k - 1) < want) out[k - 1] = '\0';
    }
  }
  rep->v[rep->n].reason = reason;
  rep->n++;
}

/* Characters of UTF-8 text (jansson's strings are valid UTF-8). */
static size_t utf8_chars(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

static int all_digits(const char *s, size_t len) {
  if (len == 0) return 0;
  for (size_t i = 0; i < len; i++)
    if (!isdigit((unsigned char)s[i])) return 0;
  return 1;
}

/* 0XX(X)-XXXXXXX(X): an area code of 3 or 4 digits from 0, an optional '-', 7 or 8 digits. */
static int landline(const char *s, size_t len) {
  const char *dash = memchr(s, '-', len);
  if (dash != NULL) {
    size_t a = (size_t)(dash - s), b = len - a - 1;
    return (a == 3 || a == 4) && s[0] == '0' && all_digits(s, a) && (b == 7 || b == 8) &&
           all_digits(dash + 1, b);
  }
  return len >= 10 && len <= 12 && s[0] == '0' && all_digits(s, len);
}

/* 2 to 20 characters of CJK Unified Ideographs (U+4E00..U+9FFF) or the middle dot '·'
 * (U+00B7) of transcribed names, neither first nor last. */
static int chinese_name(const char *s, size_t len) {
  size_t chars = 0;
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    if (i + 3 <= len && u[i] >= 0xE4 && u[i] <= 0xE9 && (u[i + 1] & 0xC0) == 0x80 &&
        (u[i + 2] & 0xC0) == 0x80) {
      i += 3;
    } else if (i + 2 <= len && u[i] == 0xC2 && u[i + 1] == 0xB7 && i > 0 && i + 2 < len) {
      i += 2;
    } else {
      return 0;
    }
    chars++;
  }
  return chars >= 2 && chars <= 20;
}

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int valid_date(const char *s, size_t len) {
  if (len != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) || !all_digits(s + 5, 2) ||
      !all_digits(s + 8, 2))
    return 0;
  int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  int m = (s[5] - '0') * 10 + (s[6] - '0');
  int d = (s[8] - '0') * 10 + (s[9] - '0');
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1) return 0;
  return d <= mdays[m - 1] + (m == 2 && leap(y));
}

static int valid_email(const char *s, size_t len) {
  if (len < 5 || len > 254 || strlen(s) != len) return 0;
  const char *at = strchr(s, '@');
  if (at == NULL || strchr(at + 1, '@') != NULL) return 0;
  size_t local = (size_t)(at - s);
  if (local == 0 || local > 64) return 0;
  for (size_t i = 0; i < local; i++)
    if (!isalnum((unsigned char)s[i]) && strchr("._%+-", s[i]) == NULL) return 0;
  const char *d = at + 1;
  int labels = 0;
  size_t label = 0;
  for (;; d++) {
    if (*d == '.' || *d == '\0') {
      if (label == 0 || label > 63) return 0;
      labels++;
      label = 0;
      if (*d == '\0') break;
      continue;
    }
    if (!isalnum((unsigned char)*d) && *d != '-') return 0;
    label++;
  }
  return labels >= 2;
}

/* The value at the `when` path of f inside obj (NULL when absent). */
static const json_t *when_value(const struct field *f, const json_t *obj) {
  const json_t *at = obj;
  for (size_t i = 0; i < f->n_when && at != NULL; i++) {
    if (!json_is_object(at)) return NULL;
    at = json_object_get(at, f->when_path[i]);
  }
  return at;
}

static int when_holds(const struct field *f, const json_t *obj) {
  if (f->when_path == NULL) return 1;
  const json_t *v = when_value(f, obj);
  const json_t *e = f->when_equals;
  if (v == NULL) return 0;
  if (json_is_number(e)) return json_is_number(v) && json_number_value(v) == json_number_value(e);
  if (json_is_boolean(e)) return json_is_boolean(v) && json_is_true(v) == json_is_true(e);
  return json_is_string(v) && strcmp(json_string_value(v), json_string_value(e)) == 0;
}

static void sub_path(char *out, size_t size, const char *path, const char *name) {
  pathf(out, size, "%s%s%s", path, path[0] != '\0' ? "." : "", name);
}

static int validate_value(const struct field *f, json_t *v, const char *path, yw_form_report *rep,
                          const yw_form_prefill *pre);

static const char *prefill_value(const struct field *f, const yw_form_prefill *pre) {
  if (pre == NULL) return NULL;
  const char *s = NULL;
  switch (f->prefill) {
  case PF_ID_NAME: s = pre->identity_name; break;
  case PF_ID_NUMBER_MASKED: s = pre->identity_id_number_masked; break;
  case PF_COMPANY_NAME: s = pre->company_name; break;
  case PF_COMPANY_USCC: s = pre->company_uscc; break;
  case PF_NONE: break;
  }
  return s != NULL && s[0] != '\0' ? s : NULL;
}

/* The fields of object definition f against the JSON object obj. */
static int validate_object(const struct field *f, json_t *obj, const char *path,
                           yw_form_report *rep, const yw_form_prefill *pre) {
  char fp[YW_FORM_PATH_MAX];
  /* prefilled fields first: the caller's values, never the submitted ones */
  for (size_t i = 0; i < f->n_fields; i++) {
    const struct field *c = &f->fields[i];
    if (c->prefill == PF_NONE) continue;
    /* a prefilled field whose condition fails is left out, as any other */
    const char *s = when_holds(c, obj) ? prefill_value(c, pre) : NULL;
    int rc = s != NULL ? json_object_set_new(obj, c->name, json_string(s))
                       : json_object_del(obj, c->name);
    if (s != NULL && rc != 0) return YW_ENOMEM;
  }
  for (size_t i = 0; i < f->n_fields; i++) {
    const struct field *c = &f->fields[i];
    json_t *v = json_object_get(obj, c->name);
    if (json_is_null(v)) v = NULL;
    sub_path(fp, sizeof fp, path, c->name);
    if (!when_holds(c, obj)) {
      if (v != NULL) report(rep, fp, YW_FORM_NOT_APPLICABLE);
      continue;
    }
    if (v == NULL) {
      if (c->required) report(rep, fp, c->prefill != PF_NONE ? YW_FORM_PREFILL_MISSING
                                                             : YW_FORM_REQUIRED);
      continue;
    }
    int rc = validate_value(c, v, fp, rep, pre);
    if (rc != 0) return rc;
  }
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    size_t k = 0;
    while (k < f->n_fields && strcmp(f->fields[k].name, key) != 0) k++;
    if (k < f->n_fields) continue;
    sub_path(fp, sizeof fp, path, key);
    report(rep, fp, YW_FORM_UNKNOWN_FIELD);
  }
  return 0;
}

static int validate_value(const struct field *f, json_t *v, const char *path, yw_form_report *rep,
                          const yw_form_prefill *pre) {
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  long long whole_value = 0;
  switch (f->type) {
  case T_STRING: {
    if (s == NULL) break;
    size_t chars = utf8_chars(s, len);
    if ((long long)chars < f->min_len) {
      report(rep, path, f->min_len == 1 && chars == 0 ? YW_FORM_REQUIRED : YW_FORM_TOO_SHORT);
      return 0;
    }
    if ((long long)chars > f->max_len) {
      report(rep, path, YW_FORM_TOO_LONG);
      return 0;
    }
    int ok = 1;
    if (f->has_re)
      ok = len <= PATTERN_VALUE_MAX && strlen(s) == len && regexec(&f->re, s, 0, NULL, 0) == 0;
    else if (f->named == NP_DIGITS)
      ok = all_digits(s, len);
    else if (f->named == NP_POSTCODE)
      ok = len == 6 && all_digits(s, len);
    else if (f->named == NP_LANDLINE)
      ok = landline(s, len);
    else if (f->named == NP_CHINESE_NAME)
      ok = chinese_name(s, len);
    if (!ok) report(rep, path, YW_FORM_PATTERN_MISMATCH);
    return 0;
  }
  case T_INTEGER:
    if (!whole(v, &whole_value)) break;
    /* fall through */
  case T_NUMBER: {
    if (!json_is_number(v)) break;
    double d = json_number_value(v);
    if (f->has_min && d < f->min) report(rep, path, YW_FORM_TOO_SMALL);
    if (f->has_max && d > f->max) report(rep, path, YW_FORM_TOO_LARGE);
    return 0;
  }
  case T_BOOLEAN:
    if (!json_is_boolean(v)) break;
    return 0;
  case T_DATE:
    if (s == NULL) break;
    if (!valid_date(s, len)) report(rep, path, YW_FORM_BAD_DATE);
    return 0;
  case T_ENUM:
    if (s == NULL) break;
    for (size_t i = 0; i < f->n_options; i++)
      if (strcmp(f->options[i], s) == 0) return 0;
    report(rep, path, YW_FORM_NOT_AN_OPTION);
    return 0;
  case T_ID_CARD:
    if (s == NULL) break;
    if (len != 18 || strlen(s) != len || !yw_id_card_valid(s)) report(rep, path, YW_FORM_BAD_ID_CARD);
    return 0;
  case T_PHONE:
    if (s == NULL) break;
    if (len != 11 || strlen(s) != len || !yw_phone_valid(s)) report(rep, path, YW_FORM_BAD_PHONE);
    return 0;
  case T_USCC:
    if (s == NULL) break;
    if (len != 18 || strlen(s) != len || !yw_uscc_valid(s)) report(rep, path, YW_FORM_BAD_USCC);
    return 0;
  case T_EMAIL:
    if (s == NULL) break;
    if (!valid_email(s, len)) report(rep, path, YW_FORM_BAD_EMAIL);
    return 0;
  case T_OBJECT:
    if (!json_is_object(v)) break;
    return validate_object(f, v, path, rep, pre);
  case T_ARRAY: {
    if (!json_is_array(v)) break;
    size_t n = json_array_size(v);
    if (n < f->min_items) report(rep, path, YW_FORM_TOO_FEW_ITEMS);
    if (n > f->max_items) {
      report(rep, path, YW_FORM_TOO_MANY_ITEMS);
      return 0;
    }
    for (size_t i = 0; i < n; i++) {
      char ip[YW_FORM_PATH_MAX];
      pathf(ip, sizeof ip, "%s[%zu]", path, i);
      json_t *e = json_array_get(v, i);
      if (json_is_null(e)) {
        report(rep, ip, YW_FORM_REQUIRED);
        continue;
      }
      int rc = validate_value(f->items, e, ip, rep, pre);
      if (rc != 0) return rc;
    }
    return 0;
  }
  }
  report(rep, path, YW_FORM_WRONG_TYPE);
  return 0;
}

int yw_form_validate(const yw_form *f, json_t *data, const char *root, const yw_form_prefill *pre,
                     yw_form_report *rep) {
  rep->n = 0;
  rep->truncated = 0;
  const char *r = root != NULL ? root : "";
  if (!json_is_object(data)) {
    report(rep, r, YW_FORM_WRONG_TYPE);
    return YW_EINVAL;
  }
  int rc = validate_object(&f->root, data, r, rep, pre);
  if (rc != 0) return rc;
  return rep->n > 0 ? YW_EINVAL : 0;
}

json_t *yw_form_report_json(const yw_form_report *rep) {
  json_t *arr = json_array();
  if (arr == NULL) return NULL;
  for (size_t i = 0; i < rep->n; i++) {
    json_t *o = json_pack("{s:s, s:s}", "field", rep->v[i].path, "reason", rep->v[i].reason);
    if (o == NULL || json_array_append_new(arr, o) != 0) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

/* ---- bundles (一件事一次办) -------------------------------------------------------- */

int yw_form_merge(const json_t *const *defs, size_t n, const char *title, json_t **out,
                  yw_form_error *err) {
  *out = NULL;
  if (err != NULL) memset(err, 0, sizeof *err);
  struct parse p = {err, 0, 0};
  json_t *fields = json_array();
  json_t *merged = json_object();
  if (fields == NULL || merged == NULL) goto nomem;
  for (size_t i = 0; i < n; i++) {
    if (defs[i] == NULL) continue;
    const json_t *list = json_object_get(defs[i], "fields");
    char mp[YW_FORM_PATH_MAX];
    pathf(mp, sizeof mp, "members[%zu]", i);
    if (!json_is_array(list)) {
      json_decref(fields);
      json_decref(merged);
      return fail(&p, mp, "a member's form has no fields");
    }
    for (size_t k = 0; k < json_array_size(list); k++) {
      json_t *f = json_array_get(list, k);
      const char *name = json_string_value(json_object_get(f, "name"));
      const json_t *seen = NULL;
      for (size_t m = 0; name != NULL && m < json_array_size(fields) && seen == NULL; m++) {
        const json_t *g = json_array_get(fields, m);
        const char *gn = json_string_value(json_object_get(g, "name"));
        if (gn != NULL && strcmp(gn, name) == 0) seen = g;
      }
      if (seen != NULL && json_equal((json_t *)seen, f)) continue;
      if (seen != NULL) {
        char fp[YW_FORM_PATH_MAX];
        pathf(fp, sizeof fp, "%s.fields[%zu]", mp, k);
        json_decref(fields);
        json_decref(merged);
        return fail(&p, fp, "field %.64s differs from an earlier member's", name);
      }
      if (json_array_append(fields, f) != 0) goto nomem;
    }
  }
  if (json_object_set_new(merged, "fields", fields) != 0) {
    fields = NULL;
    goto nomem;
  }
  fields = NULL;
  if (title != NULL && json_object_set_new(merged, "title", json_string(title)) != 0) goto nomem;
  yw_form *f = NULL;
  int rc = yw_form_parse(merged, &f, err);
  yw_form_free(f);
  if (rc != 0) {
    json_decref(merged);
    return rc;
  }
  *out = merged;
  return 0;
nomem:
  json_decref(fields);
  json_decref(merged);
  return YW_ENOMEM;
}

json_t *yw_form_project(const json_t *def, const json_t *data) {
  json_t *out = json_object();
  if (out == NULL || def == NULL) return out;
  const json_t *list = json_object_get(def, "fields");
  for (size_t k = 0; k < json_array_size(list); k++) {
    const char *name = json_string_value(json_object_get(json_array_get(list, k), "name"));
    json_t *v = name != NULL ? json_object_get(data, name) : NULL;
    if (v != NULL && json_object_set(out, name, v) != 0) {
      json_decref(out);
      return NULL;
    }
  }
  return out;
}
