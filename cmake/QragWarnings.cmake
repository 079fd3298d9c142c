# Compiler warnings and sanitizer flags shared by every qrag target.
function(qrag_target_options target)
  # -Wshadow=local is GCC-only (clang, used by the fuzz preset, rejects it).
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
                         $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local>
                         -Wnon-virtual-dtor -Wcast-align -Wunused -Wimplicit-fallthrough)
  if(QRAG_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

if(QRAG_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
