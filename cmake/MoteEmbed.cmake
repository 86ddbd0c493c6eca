# mote_embed(): a folder compiled into a program as a mote_embedded_table (mote_static.h), served
# with mote_static_embedded(). Included by mote's own build and by find_package(mote).
#
#   mote_embed(<target> <dir> [NAME <symbol>] [GZIP_ONLY] [NO_GZIP] [NO_MTIME] [HIDDEN]
#              [EXCLUDE <glob>...] [OPTIONS <mote-embed argument>...])
#
# At build time, mote-embed writes the files below <dir> (relative: to the current source
# folder) to <symbol>_embed.c in ${CMAKE_CURRENT_BINARY_DIR}/<target>_embed, beside a header
# <symbol>_embed.h; both are added to <target>'s sources (that folder to its include path): the
# program declares `extern const mote_embedded_table <symbol>;` or includes "<symbol>_embed.h".
# <symbol> defaults to <dir>'s last name made a C identifier ("web-root": web_root). The table
# is written again when a file below <dir> changes, or one is added or removed (a folder per
# target: two targets may embed the same files). The options are mote-embed's (run
# `mote-embed --help`): GZIP_ONLY keeps only the gzip copy of a file where it is kept, NO_GZIP
# none, NO_MTIME gives no Last-Modified (reproducible builds), HIDDEN takes names starting with
# '.', EXCLUDE leaves out names or paths matching the globs. Call it in the folder that defines
# <target>; <target> needs mote's headers (it links mote::mote or mote::mote_static).
#
# The program: MOTE_EMBED_EXECUTABLE when set (a host build of mote-embed when cross-compiling),
# else mote's own target mote-embed (in mote's build) or the imported mote::mote-embed (from
# find_package(mote)), else mote-embed found in the installed package's bin folder or the PATH.
include_guard(GLOBAL)
set(_MOTE_EMBED_LIST_DIR "${CMAKE_CURRENT_LIST_DIR}")

function(mote_embed target dir)
  cmake_parse_arguments(PARSE_ARGV 2 ARG "GZIP_ONLY;NO_GZIP;NO_MTIME;HIDDEN" "NAME"
    "EXCLUDE;OPTIONS")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "mote_embed: unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "mote_embed: no target '${target}'")
  endif()
  get_filename_component(dir "${dir}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT IS_DIRECTORY "${dir}")
    message(FATAL_ERROR "mote_embed: '${dir}' is not a folder")
  endif()
  if(ARG_NAME)
    set(symbol "${ARG_NAME}")
  else()
    get_filename_component(symbol "${dir}" NAME)
    string(MAKE_C_IDENTIFIER "${symbol}" symbol)
  endif()

  if(MOTE_EMBED_EXECUTABLE)
    set(program "${MOTE_EMBED_EXECUTABLE}")
    set(program_dep "${MOTE_EMBED_EXECUTABLE}")
  elseif(TARGET mote-embed)
    set(program "$<TARGET_FILE:mote-embed>")
    set(program_dep mote-embed)
  elseif(TARGET mote::mote-embed)
    set(program "$<TARGET_FILE:mote::mote-embed>")
    set(program_dep "$<TARGET_FILE:mote::mote-embed>")
  else()
    find_program(MOTE_EMBED_EXECUTABLE mote-embed HINTS "${_MOTE_EMBED_LIST_DIR}/../../../bin"
      DOC "mote-embed, the generator of mote_embed()")
    if(NOT MOTE_EMBED_EXECUTABLE)
      message(FATAL_ERROR "mote_embed: mote-embed not found; set MOTE_EMBED_EXECUTABLE")
    endif()
    set(program "${MOTE_EMBED_EXECUTABLE}")
    set(program_dep "${MOTE_EMBED_EXECUTABLE}")
  endif()

  set(args --name "${symbol}")
  foreach(flag GZIP_ONLY NO_GZIP NO_MTIME HIDDEN)
    if(ARG_${flag})
      string(TOLOWER "--${flag}" option)
      string(REPLACE "_" "-" option "${option}")
      list(APPEND args "${option}")
    endif()
  endforeach()
  foreach(glob IN LISTS ARG_EXCLUDE)
    list(APPEND args --exclude "${glob}")
  endforeach()
  list(APPEND args ${ARG_OPTIONS})

  # Every file and folder below dir: a file's change, and a folder's (a name added or removed:
  # the folder's mtime), writes the table again; CONFIGURE_DEPENDS keeps the list up to date.
  # Symbolic links (mote-embed skips them; a dangling one would be a missing dependency) and,
  # unless HIDDEN, names starting with '.' are left out.
  file(GLOB_RECURSE inputs CONFIGURE_DEPENDS LIST_DIRECTORIES true "${dir}/*")
  set(depends "${dir}")
  foreach(input IN LISTS inputs)
    file(RELATIVE_PATH rel "${dir}" "${input}")
    if(IS_SYMLINK "${input}" OR (NOT ARG_HIDDEN AND rel MATCHES "(^|/)\\."))
      continue()
    endif()
    list(APPEND depends "${input}")
  endforeach()

  # a folder per target: two targets of one folder may embed the same files
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${target}_embed/${symbol}_embed")
  add_custom_command(OUTPUT "${out}.c"
    COMMAND "${program}" ${args} -o "${out}.c" -- "${dir}"
    DEPENDS ${program_dep} ${depends}
    COMMENT "mote-embed: ${dir} as ${symbol}"
    VERBATIM)
  # the header (what `mote-embed -H` writes) depends on the name alone: written at generate time,
  # and only when it changes, so that a changed file recompiles no source that includes it
  file(GENERATE OUTPUT "${out}.h" CONTENT
"/* Written by mote_embed(): the table of the files embedded as ${symbol}. Do not edit. */
#ifndef MOTE_EMBED_${symbol}_H
#define MOTE_EMBED_${symbol}_H

#include \"mote_static.h\"

extern const mote_embedded_table ${symbol};

#endif
")
  target_sources(${target} PRIVATE "${out}.c" "${out}.h")
  target_include_directories(${target} PRIVATE "${CMAKE_CURRENT_BINARY_DIR}/${target}_embed")
endfunction()
