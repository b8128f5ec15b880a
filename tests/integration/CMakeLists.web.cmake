# The REST API of pipehost webserver (issue 19): responses checked against
# the served OpenAPI document with Debian's python3-jsonschema.
add_test(NAME integration.api
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_api.py
          $<TARGET_FILE:pipehost>)
set_tests_properties(integration.api PROPERTIES TIMEOUT 300)

# The UI in a real browser: headless Chromium driven by Selenium (skipped,
# exit 77, where chromium or its driver is not installed).
add_test(NAME integration.ui
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_ui.py
          $<TARGET_FILE:pipehost> ${PROJECT_SOURCE_DIR}/examples)
set_tests_properties(integration.ui PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
