# BPF programs: clang -target bpf -> object -> `bpftool gen skeleton` -> header,
# one custom command per bpf/<name>.bpf.c, generated into the build tree.
find_program(SCOPE_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(SCOPE_BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)
execute_process(COMMAND ${SCOPE_CLANG} --version OUTPUT_VARIABLE _clang_version)
if(NOT _clang_version MATCHES "clang version ([0-9]+)")
  message(FATAL_ERROR "cannot read the version of ${SCOPE_CLANG}")
endif()
if(CMAKE_MATCH_1 LESS 11)
  message(FATAL_ERROR "clang >= 11 is needed for BPF CO-RE; found ${CMAKE_MATCH_1}")
endif()

set(SCOPE_BPF_SKEL_DIR ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${SCOPE_BPF_SKEL_DIR})
add_custom_target(scope_bpf_skeletons)

function(scope_bpf_skeleton name)
  set(src ${CMAKE_SOURCE_DIR}/bpf/${name}.bpf.c)
  set(obj ${SCOPE_BPF_SKEL_DIR}/${name}.bpf.o)
  set(skel ${SCOPE_BPF_SKEL_DIR}/${name}.skel.h)
  file(GLOB _deps ${CMAKE_SOURCE_DIR}/bpf/shared/*.h ${CMAKE_SOURCE_DIR}/bpf/include/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${SCOPE_CLANG} -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_x86
            -I${CMAKE_SOURCE_DIR}/bpf/include -I${CMAKE_SOURCE_DIR} -c ${src} -o ${obj}
    DEPENDS ${src} ${_deps}
    COMMENT "BPF ${name}.bpf.c")
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${SCOPE_BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h")
  add_custom_target(scope_bpf_${name} DEPENDS ${skel})
  add_dependencies(scope_bpf_skeletons scope_bpf_${name})
endfunction()
