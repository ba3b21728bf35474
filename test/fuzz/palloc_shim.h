// See palloc_shim.cpp.
#pragma once

namespace fuzz {

// Frees everything palloc_extended handed out (a memory context reset).
void reset_palloc_shim();

}  // namespace fuzz
