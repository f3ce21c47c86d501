/*
 * yw_rpc_methods.c - which methods stream, as the .proto files say.
 *
 * protoc-c's descriptors do not record whether a method streams, so yw_proto_library
 * (CMakeLists.txt) runs protoc --descriptor_set_out on every .proto it compiles, and
 * tools/yw_rpc_methods.py appends to the file's generated C a table of its methods and
 * their kinds with a constructor that registers it here before main. The table lives in
 * the same object as the service descriptors, so any program that can serve or call a
 * service has its table. The server refuses a handler of the wrong kind
 * (yw_rpc_server_add_service); the gateway asks the same table how to pass a call on.
 *
 * Offers: yw_rpc_method_table_register, yw_rpc_method_streams.
 */
#include <string.h>

#include "yw_err.h"
#include "yw_rpc.h"

/* Written only by constructors, before main and before any thread. */
static yw_rpc_method_table *tables;

void yw_rpc_method_table_register(yw_rpc_method_table *table) {
  for (yw_rpc_method_table *t = tables; t != NULL; t = t->next)
    if (t == table) return;
  table->next = tables;
  tables = table;
}

int yw_rpc_method_streams(const char *full_method) {
  if (full_method == NULL) return YW_ENOTFOUND;
  for (const yw_rpc_method_table *t = tables; t != NULL; t = t->next)
    for (unsigned long i = 0; i < t->n; i++)
      if (strcmp(t->entries[i].full_method, full_method) == 0) return t->entries[i].kind;
  return YW_ENOTFOUND;
}
