/* libFuzzer target: the registry's descriptor checks on a fuzzed
 * descriptor in memory: bytes become the scalar fields and choose which
 * pointers are NULL; strings and arrays point at valid memory, as the
 * checks may only assume what the ABI promises. */
#include <stdint.h>
#include <string.h>

#include "ph_registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t b[64] = {0};
  memcpy(b, data, size < sizeof b ? size : sizeof b);
  static const char *names[] = {"ok", "", "bad name", "x-y_z", NULL};
  static const char *types[] = {"string", "integer", "strnig", "callable",
                                NULL};
  ph_param p1 = {PH_PARAM_INIT};
  p1.struct_size = b[0] % 2 ? sizeof p1 : b[1];
  p1.name = names[b[2] % 5];
  p1.type = types[b[3] % 5];
  const ph_param *params[] = {&p1, b[4] % 2 ? &p1 : NULL, NULL};
  ph_operator op = {PH_OPERATOR_INIT};
  op.struct_size = b[5] % 2 ? sizeof op : (uint32_t)b[6] * 4;
  op.type = names[b[7] % 5];
  op.kind = b[8] % 5;
  op.flags = b[9];
  op.params = b[10] % 2 ? params : NULL;
  op.init = b[11] % 2 ? (void *)1 : NULL;
  op.execute = b[12] % 2 ? (void *)1 : NULL;
  op.poke = b[13] % 2 ? (void *)1 : NULL;
  op.destroy = b[14] % 2 ? (void *)1 : NULL;
  const ph_operator *ops[] = {&op, b[15] % 2 ? &op : NULL, NULL};
  ph_plugin p = {PH_PLUGIN_INIT};
  p.struct_size = b[16] % 2 ? sizeof p : (uint32_t)b[17] * 8;
  p.abi_major = b[18] % 3;
  p.abi_minor = b[19] % 3;
  p.name = names[b[20] % 5];
  p.version = b[21] % 2 ? "1" : NULL;
  p.license = b[22] % 2 ? "MIT" : NULL;
  p.description = b[23] % 2 ? "d" : NULL;
  p.operators = b[24] % 4 ? ops : NULL;
  GError *err = NULL;
  gboolean ok = ph_registry_check_descriptor(b[25] % 8 ? &p : NULL, &err);
  if (!ok && !err)
    __builtin_trap(); /* a refusal must say why */
  g_clear_error(&err);
  return 0;
}
