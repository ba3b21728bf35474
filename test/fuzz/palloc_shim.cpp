// PostgreSQL's palloc_extended for the JSON text fuzz target, which links json_text.cpp without a
// backend: malloc, with every block freed together after each input, as a memory context reset
// would. Only the allocator json_text.cpp calls; anything else it starts calling fails to link.
#include <cstddef>
#include <cstdlib>
#include <vector>

#include "test/fuzz/palloc_shim.h"

namespace {
std::vector<void*> blocks;
}

extern "C" void* palloc_extended(size_t size, int /*flags*/) {
  void* p = std::malloc(size ? size : 1);
  if (p != nullptr) blocks.push_back(p);  // MCXT_ALLOC_NO_OOM: nullptr is the caller's to handle
  return p;
}

namespace fuzz {

void reset_palloc_shim() {
  for (void* p : blocks) std::free(p);
  blocks.clear();
}

}  // namespace fuzz
