# The README's demo DAG (Lua and YAML), run twice: the second all cache hits.
add_test(NAME integration.demo
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_demo.py
          $<TARGET_FILE:pipehost> ${PROJECT_SOURCE_DIR}/examples)
set_tests_properties(integration.demo PROPERTIES TIMEOUT 300)
