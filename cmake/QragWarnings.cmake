# Compiler warnings and sanitizer flags shared by every qrag target.
function(qrag_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
                         -Wnon-virtual-dtor -Wcast-align -Wunused -Wimplicit-fallthrough)
  if(QRAG_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

if(QRAG_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
