# -DPLTS_SANITIZE=ON: our own code built with AddressSanitizer + UndefinedBehaviorSanitizer, for the
# hardened test run (scripts/test-hardened.sh) against an --enable-cassert PostgreSQL.
# The server executable is not instrumented: the ASan runtime is LD_PRELOADed into it, so that it
# comes first in the library list before plts.so/stopgap.so are dlopen'ed (-static-libasan only
# works for executables).
option(PLTS_SANITIZE "build our code with -fsanitize=address,undefined" OFF)

# UBSan's vptr check needs RTTI, which our code (built -fno-rtti like libnode) does not have.
# UBSan reports and goes on (reports are counted from its log); ASan stops at its first error.
set(PLTS_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer)

# plts_sanitize(target...): instrument these targets when PLTS_SANITIZE is on.
function(plts_sanitize)
  if(NOT PLTS_SANITIZE)
    return()
  endif()
  foreach(t ${ARGN})
    target_compile_options(${t} PRIVATE ${PLTS_SANITIZE_FLAGS})
    get_target_property(_type ${t} TYPE)
    if(NOT _type STREQUAL "STATIC_LIBRARY")
      target_link_options(${t} PRIVATE -fsanitize=address,undefined)
    endif()
  endforeach()
endfunction()
