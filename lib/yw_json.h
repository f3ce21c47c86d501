/*
 * yw_json.h - proto3 JSON mapping for protobuf-c messages, generic over descriptors.
 *
 * Follows https://protobuf.dev/programming-guides/proto3/#json :
 *  - JSON names are the lowerCamelCase form of the field name (protoc's rule); on input
 *    both the lowerCamelCase name and the original proto field name are accepted.
 *  - int64, uint64, sint64, fixed64, sfixed64 are written as JSON strings and read from
 *    strings or integral numbers, exactly (no double round trip); values out of range
 *    are refused.
 *  - int32 family read from numbers or decimal strings; a fractional or out-of-range
 *    number is refused. float/double accept numbers and "NaN", "Infinity", "-Infinity".
 *  - enums are written by name, read by name or by number.
 *  - bytes are base64 (standard alphabet with padding on output; standard or URL-safe,
 *    padded or not, on input).
 *  - repeated fields are arrays; nested messages are objects; null means "default".
 *  - proto3 scalars (PROTOBUF_C_LABEL_NONE) equal to their default are omitted on output
 *    unless YW_JSON_EMIT_DEFAULTS is given; oneof members are written when set.
 *  - Unknown fields in the input are refused (YW_EINVAL with the field path in err).
 *  - Strings must be valid UTF-8 (jansson guarantees this on parse).
 *
 * Well-known types (package google.protobuf, known by their descriptors' full names), as
 * Python's json_format writes and reads them:
 *  - Timestamp: RFC 3339 in UTC, "1972-01-01T10:00:20.021Z", with 0, 3, 6 or 9
 *    fractional digits. Read with upper-case T and Z, two-digit fields, 0 to 9
 *    fractional digits and Z or an offset ("+08:00"), normalised to UTC. Range
 *    0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z; nanos 0..999999999.
 *  - Duration: "1.000340012s", "-0.5s": seconds within +-315576000000, nanos of the
 *    same sign; written with 0, 3, 6 or 9 fractional digits.
 *  - DoubleValue ... BytesValue: the bare value, by the rules above (Int64Value and
 *    UInt64Value as strings, BytesValue as base64). JSON null for a field of these types
 *    (or of any message type) means the field is absent.
 *  - Struct: an object; Value: any JSON value (null is null_value); ListValue: an array
 *    (null elements are null Values). A Value with no kind is written as null; a Value
 *    number that is NaN or infinite has no JSON form. NullValue fields are written null
 *    and read from null, "NULL_VALUE" or 0.
 *  - FieldMask: one string of comma-separated lowerCamelCase paths,
 *    "user.displayName,photo" <-> paths "user.display_name", "photo".
 *  - Empty: {} (an ordinary message without fields).
 *  - Any: refused (YW_EINVAL), but for an empty one ({}): its JSON form names the packed
 *    type ("@type") and this mapper has no registry of types to read or write it with.
 * A message of one of these types may also be the top-level value: yw_json_to_message
 * then takes its JSON form (a string for a Timestamp) and yw_json_write writes it.
 *
 * Memory: messages produced by yw_json_to_message are allocated with the given
 * ProtobufCAllocator (NULL = protobuf-c's default, malloc) and are freed by the caller
 * with protobuf_c_message_free_unpacked(msg, allocator). Every string and array inside
 * is allocated with the same allocator, so free_unpacked releases all of it.
 */
#ifndef YW_JSON_H
#define YW_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#define YW_JSON_EMIT_DEFAULTS 0x1u

/* Room for a human-readable error such as `field "pageSize": expected integer`. */
typedef struct yw_json_error {
  char text[256];
} yw_json_error;

/*
 * Builds a message of type desc from a JSON object (or, when desc is a well-known type,
 * from its JSON form).
 * Returns 0 and sets *out, or YW_EINVAL with err->text saying which field is wrong and
 * why (unknown field, wrong type, out of range, bad base64, unknown enum value), or
 * YW_ENOMEM. On failure *out is NULL and nothing is leaked.
 */
int yw_json_to_message(const ProtobufCMessageDescriptor *desc, json_t *obj,
                       ProtobufCAllocator *allocator, ProtobufCMessage **out,
                       yw_json_error *err);

/*
 * Merges one field given as text into an existing message (used for path and query
 * parameters such as "pageSize=20" or "department=320700-GA"). path is a dotted path of
 * JSON or proto field names ("item.implCode"); intermediate messages are created as
 * needed. value is parsed by the field's type (numbers, "true"/"false", enum names,
 * base64 for bytes; a Timestamp, Duration or FieldMask field from its JSON string, a
 * wrapper field from its bare value); for a repeated field the value is appended.
 * A refused value leaves the field as it was.
 * Returns 0, YW_EINVAL (unknown field or bad value; err says which) or YW_ENOMEM.
 * msg must have been allocated with allocator.
 */
int yw_json_set_field_text(ProtobufCMessage *msg, const char *path, const char *value,
                           ProtobufCAllocator *allocator, yw_json_error *err);

/*
 * Writes msg as compact JSON text. flags: YW_JSON_EMIT_DEFAULTS. On success returns 0,
 * *out (NUL-terminated, caller frees) and *len. On failure *out is NULL and the code is
 * YW_ENOMEM on allocation failure or when a string field is not valid UTF-8, or
 * YW_EINVAL when a well-known type holds a value its JSON form cannot carry (a
 * Timestamp or Duration out of range, a Duration with mixed signs, a FieldMask path
 * with no lowerCamelCase form, a NaN or infinite Value number, a non-empty Any) or the
 * message nests deeper than yw_json_to_message reads (32 levels).
 */
int yw_json_write(const ProtobufCMessage *msg, unsigned flags, char **out, size_t *len);

/*
 * Writes msg as a JSON document (yw_json_write read back; an object, or a well-known
 * type's JSON form).
 * Returns a new reference (caller json_decref's it) or NULL on failure.
 */
json_t *yw_json_from_message(const ProtobufCMessage *msg, unsigned flags);

/*
 * Computes the lowerCamelCase JSON name of a proto field name into buf (protoc's rule:
 * drop each '_' and upper-case the letter after it). Returns 0 or YW_ETOOBIG.
 */
int yw_json_name(const char *proto_name, char *buf, size_t size);

#endif
