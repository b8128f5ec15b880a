# http / http_sensor against a real HTTP and HTTPS server (httpd.py).
add_test(NAME integration.http
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_http.py
          $<TARGET_FILE:pipehost>)
set_tests_properties(integration.http PROPERTIES TIMEOUT 300)
