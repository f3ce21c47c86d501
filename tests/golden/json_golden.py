#!/usr/bin/env python3
"""json_golden.py - lib/yw_json.c against Python's json_format, the reference proto3 JSON
mapping (Debian python3-protobuf), on the same messages, both ways.

  json_golden.py --tool BUILD/tests/golden/json_golden_tool --protoc protoc \
                 --proto-dir tests/proto [--keep DIR]

The test protos (tests/proto/yiwang/test/v1/wkt.proto, test.proto) are compiled with
protoc --python_out into a temporary folder. For every message below (all the well-known
types, their edge values, and the top-level forms) the script writes Python's binary and
Python's JSON (json_format.MessageToJson, lowerCamelCase names, with and without
including_default_value_fields, which is what YW_JSON_EMIT_DEFAULTS matches), runs
json_golden_tool once over all of them, and checks:

  write  yw_json's JSON of Python's binary is the same JSON value as Python's (floats
         compared as the float32 they hold where one is), and json_format reads it back
         to the same message as it reads its own JSON;
  read   yw_json reads Python's JSON into bytes that Python unpacks to the same message;
  input  hand-written JSON (offsets, number forms, nulls, proto names ...) reads to the
         same message as json_format reads it, and what json_format refuses yw_json
         refuses with YW_EINVAL and the field's path;
  refuse messages whose values have no JSON form are refused by yw_json's writer.

Messages are compared by their deterministic serialisation (map entries sorted), so
NaN payloads and Struct order do not matter. Where yw_json chooses to differ from this
version of json_format, the case says so and why (DIVERGENCE); those cases check
yw_json's behaviour and print json_format's.

Exit 0 when every check holds, 1 otherwise (each failure printed).
"""
import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

YW_EINVAL = -1
EMIT_DEFAULTS = 1

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX, UINT32_MAX = 2**64 - 1, 2**32 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
TS_MIN, TS_MAX = -62135596800, 253402300799
DUR_MAX = 315576000000


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tool", required=True)
    p.add_argument("--protoc", default="protoc")
    p.add_argument("--proto-dir", required=True)
    p.add_argument("--keep", help="write the cases into this folder and keep them")
    return p.parse_args()


def compile_protos(protoc, proto_dir, out):
    py = os.path.join(out, "py")
    os.makedirs(py)
    subprocess.run(
        [protoc, "--proto_path=" + proto_dir, "--python_out=" + py,
         "yiwang/test/v1/wkt.proto", "yiwang/test/v1/test.proto"],
        check=True)
    sys.path.insert(0, py)


def same_json(a, b):
    """JSON values equal; numbers equal as doubles, or as the float32 both round to."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if a == b:
            return True
        try:
            return struct.pack("<f", a) == struct.pack("<f", b)
        except (OverflowError, struct.error):
            return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


class Golden:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.commands = []
        self.checks = []  # functions run after the tool
        self.failures = []
        self.divergences = []
        self.notes = []  # where json_format cannot read its own JSON
        self.count = 0

    # -- plumbing ------------------------------------------------------------------

    def path(self, name):
        return os.path.join(self.work, name)

    def fail(self, case, what):
        self.failures.append("%s: %s" % (case, what))

    def tool_result(self, out):
        """(bytes or None, (code, text) or None) of a tool command's output file."""
        if os.path.exists(out + ".err"):
            with open(out + ".err", encoding="utf-8", errors="replace") as f:
                code, _, text = f.read().partition("\t")
            return None, (int(code), text)
        with open(out, "rb") as f:
            return f.read(), None

    def to_json(self, type_name, flags, data, name):
        src, out = self.path(name + ".bin"), self.path(name + ".yw.json")
        with open(src, "wb") as f:
            f.write(data)
        self.commands.append("to_json %s %d %s %s" % (type_name, flags, src, out))
        return out

    def to_bin(self, type_name, text, name):
        src, out = self.path(name + ".json"), self.path(name + ".yw.bin")
        with open(src, "w", encoding="utf-8") as f:
            f.write(text)
        self.commands.append("to_bin %s %s %s" % (type_name, src, out))
        return out

    def run_tool(self):
        script = "".join(c + "\n" for c in self.commands)
        subprocess.run([self.args.tool], input=script.encode(), check=True)
        for check in self.checks:
            check()

    # -- the checks ----------------------------------------------------------------

    def message(self, name, msg, packs_otherwise=None):
        """Both ways for msg: yw writes Python's bytes, yw reads Python's JSON. The
        reference message for a JSON text is what json_format reads from it; where
        json_format cannot read its own JSON (its bugs, noted), msg itself.
        packs_otherwise: why protobuf-c packs what yw_json read otherwise than Python
        (then the bytes of the read direction are not compared)."""
        cls = type(msg)
        tname = msg.DESCRIPTOR.full_name
        if packs_otherwise is not None:
            self.divergences.append("%s\n    read back: bytes not compared; why: %s" % (name, packs_otherwise))
        want = msg.SerializeToString(deterministic=True)
        for flags in (0, EMIT_DEFAULTS):
            case = "%s (flags %d)" % (name, flags)
            self.count += 1
            file = "m%03d" % self.count  # file names without the case's spaces
            py_json = json_format.MessageToJson(
                msg, including_default_value_fields=bool(flags), preserving_proto_field_name=False)
            out = self.to_json(tname, flags, msg.SerializeToString(), file)
            back = self.to_bin(tname, py_json, file + ".py")

            py_own_ok = True
            try:
                py_ref = json_format.Parse(py_json, cls()).SerializeToString(deterministic=True)
            except json_format.ParseError as e:
                py_own_ok = False
                self.notes.append("%s: json_format cannot read its own JSON (%s); compared with "
                                  "the message itself" % (case, str(e).splitlines()[0][:120]))
                py_ref = want

            def check(case=case, py_json=py_json, out=out, back=back, py_ref=py_ref, py_own_ok=py_own_ok):
                text, err = self.tool_result(out)
                if err is not None:
                    self.fail(case, "yw_json refused to write it: %s\n  json_format: %s" % (err, py_json))
                else:
                    yw_json = text.decode("utf-8")
                    if not same_json(json.loads(yw_json), json.loads(py_json)):
                        self.fail(case, "written differently\n  yw_json:     %s\n  json_format: %s"
                                  % (yw_json, json.dumps(json.loads(py_json), ensure_ascii=False)))
                    try:
                        got = json_format.Parse(yw_json, cls()).SerializeToString(deterministic=True)
                        if got != py_ref:
                            self.fail(case, "json_format reads yw_json's JSON as another message: %s"
                                      % yw_json)
                    except json_format.ParseError as e:
                        # unless json_format cannot read this message's JSON whoever wrote
                        # it (noted above; the JSON values were compared)
                        if py_own_ok:
                            self.fail(case, "json_format refuses yw_json's JSON: %s: %s" % (e, yw_json))
                data, err = self.tool_result(back)
                if err is not None:
                    self.fail(case, "yw_json refused json_format's JSON: %s\n  %s" % (err, py_json))
                elif packs_otherwise is None:
                    got = cls.FromString(data).SerializeToString(deterministic=True)
                    if got != py_ref:
                        self.fail(case, "yw_json read json_format's JSON as another message\n  %s\n"
                                  "  yw:  %s\n  ref: %s" % (py_json, cls.FromString(data), cls.FromString(py_ref)))

            self.checks.append(check)

    def json_in(self, name, cls, text, path=None, divergence=None):
        """Hand-written JSON: read alike, or refused alike (path: in yw_json's error).
        divergence: why yw_json reads it otherwise than json_format (then only yw_json's
        side is checked: refused when path is given, else read)."""
        self.count += 1
        try:
            ref = json_format.Parse(text, cls())
            py = ref.SerializeToString(deterministic=True)
            try:
                shown = json_format.MessageToJson(ref, indent=None) if ref.ByteSize() < 200 else "a message"
            except Exception as e:  # read, but then not writable (OverflowError ...)
                shown = "%s, which it cannot write (%s)" % (str(ref).replace("\n", " "), type(e).__name__)
            py_says = "reads it as %s" % shown
        except (json_format.ParseError, ValueError, TypeError) as e:
            py, py_says = None, "refuses it: %s" % str(e).splitlines()[0][:160]
        out = self.to_bin(cls.DESCRIPTOR.full_name, text, "in%03d" % self.count)

        def check():
            data, err = self.tool_result(out)
            case = "input %s %s" % (name, text)
            if divergence is not None:
                self.divergences.append("%s\n    yw_json %s; json_format %s\n    why: %s" % (
                    text, "refuses it: %s" % err[1] if err else "reads it", py_says, divergence))
                if path is not None and err is None:
                    self.fail(case, "yw_json reads it; it should refuse it (%s)" % divergence)
                if path is None and err is not None:
                    self.fail(case, "yw_json refuses it: %s" % (err,))
            elif py is None:
                if err is None:
                    self.fail(case, "json_format %s, yw_json reads it" % py_says)
            elif err is not None:
                self.fail(case, "yw_json refuses it (%s); json_format %s" % (err, py_says))
            elif cls.FromString(data).SerializeToString(deterministic=True) != py:
                self.fail(case, "read as another message: yw %s; json_format %s"
                          % (cls.FromString(data), py_says))
            if err is not None and path is not None:
                if err[0] != YW_EINVAL or path not in err[1]:
                    self.fail(case, "error %s should be YW_EINVAL and name %r" % (err, path))
            if err is not None and err[0] != YW_EINVAL:
                self.fail(case, "refused with %s, not YW_EINVAL" % (err,))

        self.checks.append(check)

    def refused_write(self, name, msg, divergence=None):
        """msg has a value with no JSON form: yw_json's writer refuses it (YW_EINVAL)."""
        self.count += 1
        try:
            py_says = "writes %s" % json_format.MessageToJson(msg, indent=None)
        except Exception as e:  # json_format raises ValueError, OverflowError ...
            py_says = "refuses it (%s)" % type(e).__name__
        out = self.to_json(msg.DESCRIPTOR.full_name, 0, msg.SerializeToString(), "w%03d" % self.count)

        def check():
            text, err = self.tool_result(out)
            case = "write %s" % name
            if err is None or err[0] != YW_EINVAL:
                self.fail(case, "yw_json should refuse to write it with YW_EINVAL; it gave %s"
                          % (err if err else text.decode("utf-8", "replace")))
            if divergence is not None:
                self.divergences.append("writing %s\n    yw_json refuses it; json_format %s\n"
                                        "    why: %s" % (name, py_says, divergence))
            elif not py_says.startswith("refuses"):
                self.fail(case, "json_format %s, yw_json refuses it" % py_says)

        self.checks.append(check)


def build_cases(g):
    W = wkt_pb2.WellKnown
    E = test_pb2.Everything

    def ts(s, n=0):
        return timestamp_pb2.Timestamp(seconds=s, nanos=n)

    def dur(s, n=0):
        return duration_pb2.Duration(seconds=s, nanos=n)

    # -- messages both ways --------------------------------------------------------
    g.message("empty", W())
    m = W(timestamp=ts(63108020, 21000000), at=ts(TS_MIN))
    m.timestamps.extend([ts(TS_MAX, 999999999), ts(0), ts(-1, 999999999), ts(1, 1000),
                         ts(1, 1000000), ts(1, 1), ts(951782400), ts(-2208988800, 500000000)])
    g.message("timestamps", m)
    m = W(duration=dur(0, -500000000), after=dur(1, 340012))
    m.durations.extend([dur(DUR_MAX, 999999999), dur(-DUR_MAX, -999999999), dur(0),
                        dur(-3, -100000000), dur(1, 10000000), dur(0, 1), dur(-1), dur(0, -1000)])
    g.message("durations", m)
    g.message("wrappers at their edges", W(
        double_value=wrappers_pb2.DoubleValue(value=float("nan")),
        float_value=wrappers_pb2.FloatValue(value=float("-inf")),
        int64_value=wrappers_pb2.Int64Value(value=INT64_MAX),
        uint64_value=wrappers_pb2.UInt64Value(value=UINT64_MAX),
        int32_value=wrappers_pb2.Int32Value(value=INT32_MIN),
        uint32_value=wrappers_pb2.UInt32Value(value=UINT32_MAX),
        bool_value=wrappers_pb2.BoolValue(value=True),
        string_value=wrappers_pb2.StringValue(value="居民身份证 😀 \"q\" \\ \n\t\u2028 é"),
        bytes_value=wrappers_pb2.BytesValue(value=bytes(range(256)))))
    g.message("wrappers at zero", W(
        double_value=wrappers_pb2.DoubleValue(), float_value=wrappers_pb2.FloatValue(),
        int64_value=wrappers_pb2.Int64Value(), uint64_value=wrappers_pb2.UInt64Value(),
        int32_value=wrappers_pb2.Int32Value(), uint32_value=wrappers_pb2.UInt32Value(),
        bool_value=wrappers_pb2.BoolValue(), string_value=wrappers_pb2.StringValue(),
        bytes_value=wrappers_pb2.BytesValue()))
    g.message("wrappers, negative zero", W(double_value=wrappers_pb2.DoubleValue(value=-0.0),
                                           float_value=wrappers_pb2.FloatValue(value=-0.0)),
              packs_otherwise="protobuf-c packs a proto3 double or float equal to 0 as absent, "
                              "-0.0 included; yw_json reads -0.0 (a Value's number keeps it: "
                              "a oneof member is always packed)")
    g.message("wrappers, more numbers", W(
        float_value=wrappers_pb2.FloatValue(value=0.1),
        int64_value=wrappers_pb2.Int64Value(value=INT64_MIN),
        uint64_value=wrappers_pb2.UInt64Value(value=2**53 + 1),
        int32_value=wrappers_pb2.Int32Value(value=INT32_MAX),
        uint32_value=wrappers_pb2.UInt32Value(value=1)))
    for i, (d, f) in enumerate([(float("inf"), float("nan")), (5e-324, 3.4028234663852886e38),
                                (1.7976931348623157e308, 1.401298464324817e-45),
                                (-2.2250738585072014e-308, -1.1754943508222875e-38),
                                (0.1, 16777217.0), (123456789.123456789, -1e-10)]):
        g.message("floating wrappers %d" % i, W(double_value=wrappers_pb2.DoubleValue(value=d),
                                                float_value=wrappers_pb2.FloatValue(value=f)))
    m = W()
    m.int64_values.extend([wrappers_pb2.Int64Value(value=v) for v in (INT64_MIN, INT64_MAX, 0, -1, 2**53 + 1)])
    g.message("repeated wrappers", m)

    m = W()
    m.struct_value.update({
        "name": "张三", "名字": "unicode key", "": "empty key", "a.b\"c\\d": "odd key",
        "int": 42, "neg": -1.5, "big": 1e300, "tiny": 5e-324, "zero": 0, "ok": True, "no": False,
        "none": None, "list": [1, "two", None, True, [], {}, [[["deep"]]], {"x": [{"y": None}]}],
        "nested": {"empty": {}, "emptyList": [], "more": {"a": {"b": {"c": "d"}}}},
        "emoji": "😀", "escapes": "\u0001\u001f\"\\/\n\r\t\b\f\u2028\u2029"})
    g.message("struct", m)
    m = W()
    m.struct_value.SetInParent()
    m.list_value.SetInParent()
    g.message("empty struct and list", m)
    for i, v in enumerate([1.5, -0.0, "text", "", True, False, None, [], {}, [None, [None]],
                           {"k": {"k": [1, {"k": None}]}}, 2**53 + 1, 1e22]):
        m = W()
        if v is None:
            m.value.null_value = struct_pb2.NULL_VALUE
        elif isinstance(v, bool):
            m.value.bool_value = v
        elif isinstance(v, (int, float)):
            m.value.number_value = v
        elif isinstance(v, str):
            m.value.string_value = v
        elif isinstance(v, list):
            m.value.list_value.SetInParent()
            m.value.list_value.extend(v)
        else:
            m.value.struct_value.SetInParent()
            m.value.struct_value.update(v)
        g.message("value %d %r" % (i, v), m)
    m = W()
    m.value.SetInParent()  # a Value with no kind: null, and json_format reads that as null_value
    g.message("value without a kind", m)
    m = W()
    m.list_value.extend([None, 1, "s", True, [], {}, [1, [2, [3]]], {"a": [None]}])
    m.values.add().null_value = struct_pb2.NULL_VALUE
    m.values.add().string_value = "x"
    m.values.add().struct_value.update({"k": "v"})
    m.structs.add().update({"a": 1})
    m.structs.add()
    g.message("lists and repeated values", m)
    deep = {"leaf": "x"}
    for _ in range(24):
        deep = {"a": deep}
    m = W()
    m.struct_value.update(deep)
    g.message("struct 25 deep", m)

    m = W(nothing=struct_pb2.NULL_VALUE, null_value=struct_pb2.NULL_VALUE)
    g.message("null value fields", m)
    m = W()
    m.nulls.extend([struct_pb2.NULL_VALUE, struct_pb2.NULL_VALUE])
    # json_format writes repeated NullValue as [null, null] and then refuses to read that
    # back ("null is not allowed ... in a repeated field"); yw_json reads it (noted).
    g.message("repeated null values", m)

    g.message("field mask", W(field_mask=field_mask_pb2.FieldMask(
        paths=["user.display_name", "photo", "a.b_c.d_e_f", "x1.y2_z", "address.city_code"])))
    m = W()
    m.field_mask.SetInParent()
    g.message("empty field mask", m)
    m = W()
    m.empty.SetInParent()
    m.any.SetInParent()
    g.message("empty and an empty any", m)
    m = W(anything=struct_pb2.Value(string_value="in a oneof"), note="备注")
    g.message("value in a oneof", m)

    e = E(f_int64=-5, f_string="居民", page_size=20)
    e.wkt.timestamp.seconds = 1714521600
    e.wkt.struct_value.update({"k": [1, "v"]})
    e.wkt.int64_value.value = 7
    g.message("everything with well-known types", e)

    # -- well-known types at the top -----------------------------------------------
    g.message("top Timestamp", ts(1714521600, 123000000))
    g.message("top Timestamp zero", timestamp_pb2.Timestamp())
    g.message("top Duration", dur(-1, -1))
    g.message("top Duration zero", duration_pb2.Duration())
    v = struct_pb2.Value()
    v.struct_value.update({"a": [1, None]})
    g.message("top Value", v)
    v = struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    g.message("top Value null", v)
    s = struct_pb2.Struct()
    s.update({"x": {"y": "z"}})
    g.message("top Struct", s)
    g.message("top Struct empty", struct_pb2.Struct())
    lv = struct_pb2.ListValue()
    lv.extend([1, "a", None])
    g.message("top ListValue", lv)
    g.message("top FieldMask", field_mask_pb2.FieldMask(paths=["a_b", "c"]))
    g.message("top Empty", empty_pb2.Empty())
    g.message("top Int64Value", wrappers_pb2.Int64Value(value=INT64_MIN))
    g.message("top UInt64Value", wrappers_pb2.UInt64Value(value=UINT64_MAX))
    g.message("top DoubleValue", wrappers_pb2.DoubleValue(value=float("-inf")))
    g.message("top FloatValue", wrappers_pb2.FloatValue(value=1.5))
    g.message("top Int32Value", wrappers_pb2.Int32Value(value=-1))
    g.message("top UInt32Value", wrappers_pb2.UInt32Value(value=7))
    g.message("top BoolValue", wrappers_pb2.BoolValue(value=False))
    g.message("top StringValue", wrappers_pb2.StringValue(value="ü"))
    g.message("top BytesValue", wrappers_pb2.BytesValue(value=b"\xfb\xff"))

    # -- hand-written JSON read alike ----------------------------------------------
    ok = [
        '{"timestamp":"1972-01-01T10:00:20.021+08:00"}',
        '{"timestamp":"1972-01-01T10:00:20.021-05:30"}',
        '{"timestamp":"2024-12-31T23:30:00-01:00"}',
        '{"timestamp":"1972-01-01T10:00:20.1Z"}',
        '{"timestamp":"1972-01-01T10:00:20.12Z"}',
        '{"timestamp":"1972-01-01T10:00:20.1234Z"}',
        '{"timestamp":"1972-01-01T10:00:20.12345678Z"}',
        '{"timestamp":"1972-01-01T10:00:20.123456789Z"}',
        '{"timestamp":"2000-02-29T00:00:00Z"}',
        '{"timestamp":"0001-01-01T00:00:00Z","at":"9999-12-31T23:59:59.999999999Z"}',
        '{"timestamp":"0001-01-01T08:00:00+08:00"}',
        '{"timestamps":["1970-01-01T00:00:00Z","1969-12-31T23:59:59.5Z"]}',
        '{"timestamp":null,"structValue":null,"int64Value":null,"durations":null}',
        '{"duration":"-0.5s"}', '{"duration":"1.5s"}', '{"duration":"0.000000001s"}',
        '{"duration":"-315576000000s"}', '{"duration":"315576000000.999999999s"}',
        '{"duration":"0s"}', '{"duration":"-0s"}', '{"duration":"1.10s"}', '{"after":"100s"}',
        '{"int64Value":123}', '{"int64Value":"-9223372036854775808"}',
        '{"int64Value":"9223372036854775807"}', '{"uint64Value":"18446744073709551615"}',
        '{"uint64Value":9223372036854775807}',
        '{"int32Value":"42"}', '{"int32Value":1e3}', '{"uint32Value":4294967295}',
        '{"doubleValue":"Infinity"}', '{"doubleValue":"-Infinity"}', '{"floatValue":"NaN"}',
        '{"doubleValue":1e308}', '{"doubleValue":"1.5"}', '{"floatValue":3.4028234663852886e38}',
        '{"bytesValue":"-_8"}', '{"bytesValue":"+/8="}', '{"bytesValue":""}',
        '{"stringValue":"\\ud83d\\ude00 \\u00e9"}', '{"boolValue":false}', '{"boolValue":null}',
        '{"structValue":{"a":1,"b":[true,null,"x"],"c":{"d":{}}}}',
        '{"structValue":{}}', '{"structValue":{"":null}}',
        '{"value":null}', '{"value":1}', '{"value":-0.0}', '{"value":"s"}', '{"value":false}',
        '{"value":{"x":null}}', '{"value":[]}', '{"values":[null,1,"x",[],{}]}',
        '{"listValue":[[],[[]],{}]}', '{"listValue":[]}', '{"anything":null}',
        '{"structs":[{},{"a":{"b":[{"c":null}]}}]}',
        '{"nullValue":null}', '{"nothing":null}', '{"nullValue":"NULL_VALUE"}', '{"nullValue":0}',
        '{"fieldMask":"user.displayName,photo"}', '{"fieldMask":""}', '{"fieldMask":"a.b.cD"}',
        '{"fieldMask":"aBC,x1y"}',
        '{"empty":{},"any":{}}',
        '{"int64_value":"5","field_mask":"a","struct_value":{"k_k":1},"null_value":null}',
        '{"note":"x","at":"2024-01-01T00:00:00Z"}',
    ]
    for text in ok:
        g.json_in("read alike", W, text)
    g.json_in("everything", E, '{"wkt":{"timestamp":"2024-01-01T00:00:00Z","value":[1]},"fInt64":"1"}')
    g.json_in("top", timestamp_pb2.Timestamp, '"2024-05-01T08:00:00+08:00"')
    g.json_in("top", duration_pb2.Duration, '"-1.5s"')
    g.json_in("top", struct_pb2.Value, 'null')
    g.json_in("top", struct_pb2.Value, '[1,{"a":null}]')
    g.json_in("top", struct_pb2.ListValue, '[null]')
    g.json_in("top", struct_pb2.Struct, '{"a":{}}')
    g.json_in("top", field_mask_pb2.FieldMask, '"a.bC,d"')
    g.json_in("top", wrappers_pb2.Int64Value, '"-1"')
    g.json_in("top", wrappers_pb2.BytesValue, '"AAEC"')
    g.json_in("top", empty_pb2.Empty, '{}')

    # -- refused alike (the path is what yw_json's error must name) ------------------
    refused = [
        ('{"timestamp":"1972-01-01T10:00:20"}', "timestamp"),
        ('{"timestamp":"1972-01-01t10:00:20Z"}', "timestamp"),
        ('{"timestamp":"1972-01-01T10:00:20z"}', "timestamp"),
        ('{"timestamp":"1972-02-30T10:00:20Z"}', "timestamp"),
        ('{"timestamp":"1973-02-29T10:00:20Z"}', "timestamp"),
        ('{"timestamp":"1972-01-01T24:00:00Z"}', "timestamp"),
        ('{"timestamp":"1972-01-01T10:00:60Z"}', "timestamp"),
        ('{"timestamp":"1972-01-01T10:00:20.0123456789Z"}', "timestamp"),
        ('{"timestamp":"1972-01-01T10:00:20+0800"}', "timestamp"),
        ('{"timestamp":"0000-01-01T00:00:00Z"}', "timestamp"),
        ('{"timestamp":"10000-01-01T00:00:00Z"}', "timestamp"),
        ('{"timestamp":"1972-01-01T10:00:20Zjunk"}', "timestamp"),
        ('{"timestamp":""}', "timestamp"),
        ('{"timestamp":1}', "timestamp"),
        ('{"timestamps":["1970-01-01T00:00:00Z",null]}', "timestamps[1]"),
        ('{"duration":"1"}', "duration"),
        ('{"duration":"s"}', "duration"),
        ('{"duration":"315576000001s"}', "duration"),
        ('{"duration":"-315576000001s"}', "duration"),
        ('{"duration":1.5}', "duration"),
        ('{"duration":"1.5sec"}', "duration"),
        ('{"duration":"1,5s"}', "duration"),
        ('{"after":"x"}', "after"),
        ('{"fieldMask":"a_b"}', "fieldMask"),
        ('{"fieldMask":["a"]}', "fieldMask"),
        ('{"int32Value":2147483648}', "int32Value"),
        ('{"int32Value":1.5}', "int32Value"),
        ('{"int64Value":"1.5"}', "int64Value"),
        ('{"int64Value":"9223372036854775808"}', "int64Value"),
        ('{"int64Value":true}', "int64Value"),
        ('{"uint64Value":"-1"}', "uint64Value"),
        ('{"uint32Value":-1}', "uint32Value"),
        ('{"floatValue":1e39}', "floatValue"),
        ('{"doubleValue":"nan"}', "doubleValue"),
        ('{"boolValue":"true"}', "boolValue"),
        ('{"boolValue":1}', "boolValue"),
        ('{"stringValue":1}', "stringValue"),
        ('{"bytesValue":1}', "bytesValue"),
        ('{"int64Value":{"value":"1"}}', "int64Value"),
        ('{"structValue":[]}', "structValue"),
        ('{"structValue":"x"}', "structValue"),
        ('{"listValue":{}}', "listValue"),
        ('{"listValue":1}', "listValue"),
        ('{"structs":[{},1]}', "structs[1]"),
        ('{"int64Values":[null]}', "int64Values[0]"),
        ('{"empty":{"a":1}}', "empty.a"),
        ('{"nullValue":"x"}', "nullValue"),
        ('{"noSuchField":1}', "noSuchField"),
        ('{"at":"2024-01-01T00:00:00Z","after":"1s"}', "oneof"),
    ]
    for text, path in refused:
        g.json_in("refused alike", W, text, path=path)
    g.json_in("top", timestamp_pb2.Timestamp, '{"seconds":1}', path="RFC 3339")
    g.json_in("top", struct_pb2.Struct, '[]', path="expected an object")
    g.json_in("top", wrappers_pb2.Int32Value, 'null', path="32-bit")

    # -- where yw_json chooses otherwise (each with its reason) ----------------------
    strict_ts = ("RFC 3339 wants two-digit fields; json_format takes whatever strptime "
                 "takes, which is not RFC 3339")
    for text in ['{"timestamp":"1972-1-1T1:2:3Z"}', '{"timestamp":"1972-01-01T10:00:20.Z"}',
                 '{"timestamp":"1972-01-01T10:00:20+8:00"}']:
        g.json_in("stricter", W, text, path="timestamp", divergence=strict_ts)
    g.json_in("stricter", W, '{"timestamp":"1972-01-01T10:00:20+24:00"}', path="timestamp",
              divergence="an offset's hours are 00 to 23 (RFC 3339)")
    for text in ['{"timestamp":"0001-01-01T00:00:00+00:01"}',
                 '{"timestamp":"9999-12-31T23:59:59-00:01"}']:
        g.json_in("range", W, text, path="out of range",
                  divergence="the Timestamp range (0001 to 9999, UTC) is checked after the "
                             "offset is applied; json_format stores a value outside it, "
                             "which it then cannot write")
    for text in ['{"duration":"+1s"}', '{"duration":" 1s"}', '{"duration":"1_0s"}',
                 '{"duration":"1.s"}', '{"duration":"1.0000000001s"}']:
        g.json_in("stricter", W, text, path="duration",
                  divergence="a Duration is -?digits(.1-9 digits)?s; json_format hands the "
                             "text to int() and float(), which take signs, spaces, '_' and "
                             "round away a tenth fractional digit")
    for text in ['{"fieldMask":"a,,b"}', '{"fieldMask":"a,"}', '{"fieldMask":"a, b"}',
                 '{"fieldMask":"a-b"}']:
        g.json_in("stricter", W, text, path="fieldMask",
                  divergence="a FieldMask path is lowerCamelCase field names joined by '.'; "
                             "json_format keeps empty paths and any character")
    g.json_in("any", W, '{"any":{"@type":"type.googleapis.com/google.protobuf.Duration",'
                        '"value":"1s"}}', path="google.protobuf.Any is not supported",
              divergence="Any needs a registry of the types it may hold to read @type; "
                         "yw_json has none and refuses it (INVALID_ARGUMENT)")
    g.json_in("numbers", W, '{"uint64Value":18446744073709551615}', path="too big integer",
              divergence="the gateway's JSON parser (jansson) holds integers up to 2^63-1; "
                          "a larger uint64 is read from its string form, which is how "
                          "json_format and yw_json write it")
    for text, path in [('{"doubleValue":true}', "doubleValue"), ('{"floatValue":false}', "floatValue"),
                       ('{"nullValue":true}', "nullValue")]:
        g.json_in("stricter", W, text, path=path,
                  divergence="a boolean is not a number (json_format hands it to float() "
                             "or int())")
    g.json_in("stricter", W, '{"nullValue":1}', path="nullValue",
              divergence="a NullValue has one value, written null: json_format keeps the "
                         "number 1 (open enum), which then reads back as 0")
    g.json_in("stricter", W, '{"empty":[]}', path="empty",
              divergence="a message is an object (json_format iterates over whatever it is "
                         "given, and an empty array has nothing in it)")
    g.json_in("nulls", W, '{"nulls":[null,null]}',
              divergence="json_format writes a repeated NullValue as [null, ...] and then "
                         "refuses that; yw_json reads what it writes")

    # -- values with no JSON form: the writer refuses them --------------------------
    g.refused_write("timestamp after 9999", W(timestamp=ts(TS_MAX + 1)))
    g.refused_write("timestamp before 0001", W(timestamp=ts(TS_MIN - 1)))
    g.refused_write("duration past its range", W(duration=dur(DUR_MAX + 1)))
    g.refused_write("duration with mixed signs", W(duration=dur(1, -1)))
    g.refused_write("duration with nanos past a second", W(duration=dur(0, 1000000000)))
    g.refused_write("field mask path with upper case", W(field_mask=field_mask_pb2.FieldMask(paths=["Photo"])))
    g.refused_write("field mask path a_1", W(field_mask=field_mask_pb2.FieldMask(paths=["a_1"])))
    g.refused_write("field mask path a_", W(field_mask=field_mask_pb2.FieldMask(paths=["a_"])))
    g.refused_write("timestamp with negative nanos", W(timestamp=ts(1, -1)),
                    divergence="nanos must be 0..999999999 (timestamp.proto); json_format "
                               "quietly normalises them")
    g.refused_write("timestamp with nanos past a second", W(timestamp=ts(1, 1000000000)),
                    divergence="nanos must be 0..999999999 (timestamp.proto); json_format "
                               "quietly normalises them")
    g.refused_write("field mask path with a comma", W(field_mask=field_mask_pb2.FieldMask(paths=["a,b"])),
                    divergence="it would read back as two paths")
    g.refused_write("field mask with an empty path", W(field_mask=field_mask_pb2.FieldMask(paths=["a", ""])),
                    divergence="it would read back otherwise (or be refused)")
    for x in (float("nan"), float("inf"), float("-inf")):
        g.refused_write("Value number %r" % x, W(value=struct_pb2.Value(number_value=x)),
                        divergence="JSON has no such number; json_format 3.21 writes a string, "
                                   "which reads back as a string_value (newer json_format "
                                   "refuses it too)")
    any_msg = W()
    any_msg.any.Pack(duration_pb2.Duration(seconds=1))
    g.refused_write("Any holding a Duration", any_msg,
                    divergence="Any needs a registry of the types it may hold to write @type")


def main():
    args = parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="yw-json-golden.")
    if args.keep:
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
    try:
        compile_protos(args.protoc, args.proto_dir, work)
        global json_format, wkt_pb2, test_pb2, timestamp_pb2, duration_pb2, wrappers_pb2
        global struct_pb2, field_mask_pb2, empty_pb2
        from google.protobuf import json_format
        from google.protobuf import (duration_pb2, empty_pb2, field_mask_pb2, struct_pb2,
                                     timestamp_pb2, wrappers_pb2)
        from yiwang.test.v1 import test_pb2, wkt_pb2
        import google.protobuf
        g = Golden(args, work)
        build_cases(g)
        g.run_tool()
        print("json_golden: python3-protobuf %s, %d cases" % (google.protobuf.__version__, g.count))
        for n in g.notes:
            print("note: " + n)
        if g.divergences:
            print("where yw_json chooses otherwise than json_format (%d):" % len(g.divergences))
            for d in g.divergences:
                print("  " + d)
        if g.failures:
            print("FAILED (%d):" % len(g.failures))
            for f in g.failures:
                print("  " + f)
            return 1
        print("all agree")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
