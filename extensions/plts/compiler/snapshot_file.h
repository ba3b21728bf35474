// The compiler snapshot file: a small text header (magic, V8 version, blob length, content hash)
// followed by the V8 startup blob. A blob from another V8 build aborts the process inside V8, so
// the backend checks the header and hash before handing the blob to V8.
// PostgreSQL-free: shared by the backend and the build-time generator.
#pragma once

#include <cstdint>
#include <string>

namespace plts {

// The TypeScript lib files the compiler serves: es5 .. es2022 and decorators, no "full" (DOM) libs.
bool is_compiler_lib(const std::string& file_name);

// 64-bit content hash, fast enough to check a ~20 MB blob at backend start.
uint64_t content_hash(const char* data, size_t len);

// Header + blob, ready to write.
std::string snapshot_file_contents(const std::string& v8_version, const char* blob, size_t len);

// Checks a file's contents; on success sets blob/len to the blob inside `contents`.
// Returns "" or why the file is unusable.
std::string check_snapshot_file(const char* contents, size_t size, const std::string& v8_version,
                                const char** blob, size_t* len);

}  // namespace plts
