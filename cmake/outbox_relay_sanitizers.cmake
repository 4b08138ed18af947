# Sanitizer and fuzzing instrumentation, applied to every target of the build (libraries, the
# outbox-relay binary the integration tests spawn, the tests themselves), so a finding in any
# of them fails the run. Included from the top-level CMakeLists before any target exists.
#
#   -DOUTBOX_RELAY_SANITIZE=address,undefined   ASan + UBSan (gcc or clang)
#   -DOUTBOX_RELAY_SANITIZE=thread              TSan
#   -DOUTBOX_RELAY_FUZZ=ON                      libFuzzer coverage + ASan + UBSan (clang only)

# Every finding stops the process: a sanitizer that only logs and carries on lets a test pass
# with undefined behaviour in it. Frame pointers keep the reports' stacks complete and cheap.
set(outbox_relay_sanitizer_common -fno-sanitize-recover=all -fno-omit-frame-pointer)

if(OUTBOX_RELAY_SANITIZE)
  string(REPLACE "," ";" requested "${OUTBOX_RELAY_SANITIZE}")
  foreach(sanitizer IN LISTS requested)
    if(NOT sanitizer MATCHES "^(address|undefined|thread)$")
      message(FATAL_ERROR "OUTBOX_RELAY_SANITIZE: unknown sanitizer '${sanitizer}' "
                          "(use address,undefined or thread)")
    endif()
  endforeach()
  if("thread" IN_LIST requested AND "address" IN_LIST requested)
    message(FATAL_ERROR "OUTBOX_RELAY_SANITIZE: thread and address cannot be combined")
  endif()
  if(OUTBOX_RELAY_FUZZ)
    message(FATAL_ERROR "OUTBOX_RELAY_FUZZ brings its own sanitizers; leave OUTBOX_RELAY_SANITIZE empty")
  endif()
  add_compile_options(-fsanitize=${OUTBOX_RELAY_SANITIZE} ${outbox_relay_sanitizer_common})
  add_link_options(-fsanitize=${OUTBOX_RELAY_SANITIZE})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # gcc's manual warns that sanitizers raise -Wmaybe-uninitialized false positives (gcc 12:
    # inside std::regex); the plain build keeps the warning.
    add_compile_options(-Wno-maybe-uninitialized)
    # Boost.Asio uses std::atomic_thread_fence, which TSan does not model; gcc says so with
    # -Wtsan. An ignored fence can only cause a false report, never hide a race.
    if("thread" IN_LIST requested)
      add_compile_options(-Wno-tsan)
    endif()
  endif()
endif()

if(OUTBOX_RELAY_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "OUTBOX_RELAY_FUZZ needs clang (libFuzzer): "
                        "-DCMAKE_CXX_COMPILER=clang++-14, as scripts/fuzz.sh does")
  endif()
  # Coverage feedback in the libraries too, not only in the fuzz targets' own files; the
  # targets add -fsanitize=fuzzer at link time for libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined ${outbox_relay_sanitizer_common})
  add_link_options(-fsanitize=address,undefined)
endif()
