# One helper so every folder's target gets the same language level and warnings.
function(outbox_relay_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # librdkafka's RD_KAFKA_V_* macros type-check with GNU statement expressions, and clang
    # (unlike gcc) blames the code that expands them.
    target_compile_options(${target} PRIVATE -Wno-gnu-statement-expression)
  endif()
  if(CMAKE_UNITY_BUILD AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # A unity build (the sanitizer stages of scripts/test.sh) #includes the sources into one
    # file, so gcc takes each for a header and flags its coroutine frames for naming types of
    # the file's anonymous namespace: true of a header, harmless in the one translation unit.
    target_compile_options(${target} PRIVATE -Wno-subobject-linkage)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # gcc 12 at -O3 (a Release build: the image's) takes `"literal" + std::string(...)` for an
    # overlapping memcpy of 2^63 bytes (GCC bug 105329, fixed in 13): a false -Wrestrict in
    # libstdc++'s inlined code, not ours.
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(OUTBOX_RELAY_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# outbox_relay_library(NAME <folder> SRCS ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# builds the static library outbox_relay::<folder>; headers are included as "<folder>/x.hpp".
function(outbox_relay_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  set(target outbox_relay_${ARG_NAME})
  add_library(${target} STATIC ${ARG_SRCS})
  add_library(outbox_relay::${ARG_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  outbox_relay_warnings(${target})
endfunction()
