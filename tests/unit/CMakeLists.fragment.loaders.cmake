# Unit tests of the DAG loaders (YAML, Lua) and the template renderer.
# Included from tests/CMakeLists.txt; needs the ph_core library and
# PH_LUA_OUT (the build tree's copy of lua/*.lua).  A target that the
# including file already defines (test_ph_template comes from its unit
# list) is left alone, so the fragment can be included either way.
foreach(m yaml lua template)
  if(NOT TARGET test_ph_${m})
    add_executable(test_ph_${m} ${CMAKE_CURRENT_LIST_DIR}/test_ph_${m}.c)
    target_link_libraries(test_ph_${m} PRIVATE ph_core)
    target_compile_definitions(test_ph_${m} PRIVATE
      PH_FIXTURES="${CMAKE_CURRENT_LIST_DIR}/fixtures"
      PH_LUA_DIR="${PH_LUA_OUT}")
    add_test(NAME unit.${m} COMMAND test_ph_${m})
    set_tests_properties(unit.${m} PROPERTIES TIMEOUT 120)
  endif()
endforeach()
