// SHA-256 (FIPS 180-4), self-contained. PostgreSQL's pg_cryptohash goes through OpenSSL, whose
// first use in a backend costs ~1 ms of provider initialization: too much for a function's first
// call, which hashes its source to find its compiled artifact. PostgreSQL-free, unit-tested.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pgx {

// Lowercase hex digest of data.
std::string sha256_hex(const void* data, size_t len);
inline std::string sha256_hex(const std::string& s) { return sha256_hex(s.data(), s.size()); }

}  // namespace pgx
