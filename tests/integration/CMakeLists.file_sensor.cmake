# file_sensor: files, directories and globs appearing mid-run, min_size,
# timeout / soft_fail, reschedule mode.
add_test(NAME integration.file_sensor
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_file_sensor.py
          $<TARGET_FILE:pipehost>)
set_tests_properties(integration.file_sensor PROPERTIES TIMEOUT 300)
