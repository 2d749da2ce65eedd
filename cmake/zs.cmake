# Two helpers keep every module's CMakeLists.txt a few lines long
# (in the spirit of Redpanda's v_cc_library / rp_test).
#
#   zs_cc_library(NAME zs_common SRCS a.cc b.cc DEPS absl::status)
#   zs_cc_binary(NAME zeroscale-controller SRCS main.cc DEPS zs_controller)
#   zs_cc_test(NAME common_unit SRCS x_test.cc DEPS zs_common [LABELS unit])

set(ZS_WARNINGS -Wall -Wextra -Wpedantic -Wno-unused-parameter)

function(zs_apply_warnings target)
  target_compile_options(${target} PRIVATE ${ZS_WARNINGS})
  if(ZS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

function(zs_cc_library)
  cmake_parse_arguments(ZS "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(${ZS_NAME} STATIC ${ZS_SRCS})
  target_include_directories(${ZS_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${ZS_NAME} PUBLIC ${ZS_DEPS})
  zs_apply_warnings(${ZS_NAME})
endfunction()

function(zs_cc_binary)
  cmake_parse_arguments(ZS "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ZS_NAME} ${ZS_SRCS})
  target_include_directories(${ZS_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${ZS_NAME} PRIVATE ${ZS_DEPS})
  zs_apply_warnings(${ZS_NAME})
endfunction()

# LABELS: unit (default; no external services), integration (local cluster),
# e2e (local cluster + both binaries). ctest -L selects.
function(zs_cc_test)
  cmake_parse_arguments(ZS "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT ZS_LABELS)
    set(ZS_LABELS unit)
  endif()
  add_executable(${ZS_NAME} ${ZS_SRCS})
  target_include_directories(${ZS_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${ZS_NAME} PRIVATE ${ZS_DEPS} GTest::gmock GTest::gtest_main)
  zs_apply_warnings(${ZS_NAME})
  gtest_discover_tests(${ZS_NAME}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES LABELS "${ZS_LABELS}"
    DISCOVERY_TIMEOUT 30)
endfunction()
