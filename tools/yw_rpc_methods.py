#!/usr/bin/env python3
"""Appends to a protoc-c generated .pb-c.c the kinds of its services' methods.

protoc-c's descriptors do not say which methods stream. This reads the
FileDescriptorSet that `protoc --descriptor_set_out` wrote for the same .proto and
appends a table of "/package.Service/Method" -> kind (0 unary, 1 server streaming,
2 client or bidirectional streaming) with a constructor that registers it with the
runtime (lib/yw_rpc_methods.c). Files without services get nothing appended.

usage: yw_rpc_methods.py FILE.desc FILE.pb-c.c
"""
import re
import sys

from google.protobuf import descriptor_pb2


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    desc_path, c_path = sys.argv[1], sys.argv[2]
    fds = descriptor_pb2.FileDescriptorSet()
    with open(desc_path, "rb") as f:
        fds.ParseFromString(f.read())
    entries = []
    for fd in fds.file:
        for svc in fd.service:
            full = (fd.package + "." if fd.package else "") + svc.name
            for m in svc.method:
                if m.client_streaming:
                    kind = 2
                elif m.server_streaming:
                    kind = 1
                else:
                    kind = 0
                entries.append(("/%s/%s" % (full, m.name), kind))
    if not entries:
        return 0
    tag = re.sub(r"[^A-Za-z0-9]", "_", fds.file[-1].name)
    out = ["", "/* Method kinds of this file's services, from tools/yw_rpc_methods.py. */",
           '#include "yw_rpc.h"',
           "static const yw_rpc_method_kind yw_kinds_%s[] = {" % tag]
    for path, kind in entries:
        out.append('  {"%s", %d},' % (path, kind))
    out.append("};")
    out.append("static yw_rpc_method_table yw_table_%s = {yw_kinds_%s, %d, 0};"
               % (tag, tag, len(entries)))
    out.append("__attribute__((constructor)) static void yw_register_%s(void) {" % tag)
    out.append("  yw_rpc_method_table_register(&yw_table_%s);" % tag)
    out.append("}")
    with open(c_path, "a") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
