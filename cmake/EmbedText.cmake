# cmake -DIN=<file> -DOUT=<header> -DNAME=<identifier> -P EmbedText.cmake
# Writes the file's text as `inline constexpr char NAME[]` in namespace plts.
file(READ "${IN}" _text)
string(FIND "${_text}" ")plts_text\"" _clash)
if(NOT _clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string delimiter")
endif()
file(WRITE "${OUT}.tmp" "// Generated from ${IN}.\n#pragma once\nnamespace plts {\ninline constexpr char ${NAME}[] = R\"plts_text(${_text})plts_text\";\n}  // namespace plts\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
