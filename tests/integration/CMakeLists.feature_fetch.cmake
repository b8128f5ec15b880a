# feature_fetch: point-in-time joins against hand-checked fixtures, SQLite
# sources, online lookups, a Feast feature server stand-in, bad input.
add_test(NAME integration.feature_fetch
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_feature_fetch.py
          $<TARGET_FILE:pipehost>)
set_tests_properties(integration.feature_fetch PROPERTIES TIMEOUT 300)
