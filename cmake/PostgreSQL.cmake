# Locates PostgreSQL through pg_config and describes how to build a server extension module.
# -DPG_CONFIG=/path/to/pg_config picks another installation (the hardened run's cassert build).
find_program(PG_CONFIG NAMES pg_config PATHS /usr/lib/postgresql/15/bin REQUIRED)
foreach(what includedir-server pkglibdir sharedir bindir version pgxs libdir includedir)
  execute_process(COMMAND ${PG_CONFIG} --${what} OUTPUT_VARIABLE _v OUTPUT_STRIP_TRAILING_WHITESPACE)
  string(TOUPPER "${what}" _n)
  string(REPLACE "-" "_" _n "${_n}")
  set(PG_${_n} "${_v}")
endforeach()
get_filename_component(PG_PGXS_DIR "${PG_PGXS}" DIRECTORY)
set(PG_REGRESS "${PG_PGXS_DIR}/../test/regress/pg_regress")
get_filename_component(PG_REGRESS "${PG_REGRESS}" ABSOLUTE)
set(PG_EXTENSION_DIR "${PG_SHAREDIR}/extension")
message(STATUS "PostgreSQL: ${PG_VERSION} (server headers ${PG_INCLUDEDIR_SERVER}, modules ${PG_PKGLIBDIR})")

# add_pg_module(name SOURCES...) -> a MODULE library loadable by the server.
function(add_pg_module name)
  add_library(${name} MODULE ${ARGN})
  set_target_properties(${name} PROPERTIES PREFIX "" OUTPUT_NAME ${name})
  target_include_directories(${name} SYSTEM PRIVATE ${PG_INCLUDEDIR_SERVER})
  target_compile_options(${name} PRIVATE ${PLTS_WARNINGS} -fvisibility=hidden)
  # Symbols are resolved against the postgres executable at load time.
  target_link_options(${name} PRIVATE -Wl,--unresolved-symbols=ignore-all)
  plts_sanitize(${name})
  install(TARGETS ${name} LIBRARY DESTINATION "${PG_PKGLIBDIR}")
endfunction()
