# cmake -DIN=<file> -DOUT=<header> -DNAME=<macro> -P HashHeader.cmake
# Writes `#define NAME "<sha256 of IN>"`, touching OUT only when the hash changes.
file(SHA256 "${IN}" _hash)
file(WRITE "${OUT}.tmp" "// Generated from ${IN}.\n#pragma once\n#define ${NAME} \"${_hash}\"\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
