# The REST API of pipehost webserver (issue 19): responses checked against
# the served OpenAPI document with Debian's python3-jsonschema.
add_test(NAME integration.api
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_api.py
          $<TARGET_FILE:pipehost>)
set_tests_properties(integration.api PROPERTIES TIMEOUT 300)
