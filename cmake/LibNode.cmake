# V8 10.2 from Debian's libnode108 (Node 18's shared library exports V8 and libplatform).
# Either installed system-wide (libnode-dev) or unpacked by scripts/bootstrap.sh into .deps/libnode.
set(LIBNODE_PREFIX "${CMAKE_SOURCE_DIR}/.deps/libnode/usr" CACHE PATH "prefix of an unpacked libnode")
find_path(V8_INCLUDE_DIR v8.h
  PATHS "${LIBNODE_PREFIX}/include/node" /usr/include/node NO_DEFAULT_PATH)
find_library(LIBNODE_LIBRARY NAMES libnode.so.108 node
  PATHS "${LIBNODE_PREFIX}/lib/x86_64-linux-gnu" /usr/lib/x86_64-linux-gnu NO_DEFAULT_PATH)
if(NOT V8_INCLUDE_DIR OR NOT LIBNODE_LIBRARY)
  message(FATAL_ERROR "libnode (V8) not found: run scripts/bootstrap.sh")
endif()
get_filename_component(LIBNODE_LIBDIR "${LIBNODE_LIBRARY}" DIRECTORY)
message(STATUS "V8 headers: ${V8_INCLUDE_DIR}; libnode: ${LIBNODE_LIBRARY}")

add_library(v8 INTERFACE)
target_include_directories(v8 SYSTEM INTERFACE "${V8_INCLUDE_DIR}")
target_link_libraries(v8 INTERFACE "${LIBNODE_LIBRARY}")
# libnode is built without RTTI and without pointer compression (never define V8_COMPRESS_POINTERS).
target_compile_options(v8 INTERFACE -fno-rtti)

# When libnode is not in the system library path, the installed plts.so carries a copy beside it.
if(LIBNODE_LIBDIR STREQUAL "/usr/lib/x86_64-linux-gnu")
  set(LIBNODE_BUNDLED OFF)
else()
  set(LIBNODE_BUNDLED ON)
endif()
