# qrag_add_layer(NAME DEPS ...): one static library per folder under src/.
# Sources are globbed so that adding a file needs no CMake edit. Files named
# *_avx2.cpp or *_avx512.cpp are compiled with that ISA's flags only; everything
# else is compiled for the baseline x86-64 ISA and reaches them through the
# run-time dispatch in src/kernels.
set(QRAG_AVX2_FLAGS -mavx2 -mfma -mf16c)
set(QRAG_AVX512_FLAGS -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq
    -mavx512vnni -mavx512bf16)

function(qrag_add_layer name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${name}/*.cpp)
  if(NOT sources)
    set(sources ${CMAKE_SOURCE_DIR}/cmake/empty.cpp)
  endif()
  add_library(qrag_${name} STATIC ${sources})
  target_include_directories(qrag_${name} PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/generated)
  target_link_libraries(qrag_${name} PUBLIC ${ARG_DEPS})
  qrag_target_options(qrag_${name})
  foreach(src IN LISTS sources)
    if(src MATCHES "_avx512\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${QRAG_AVX512_FLAGS}")
    elseif(src MATCHES "_avx2\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${QRAG_AVX2_FLAGS}")
    endif()
  endforeach()
endfunction()
