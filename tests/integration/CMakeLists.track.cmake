# Result caching, experiment tracking, the model registry and lineage
# (ABI 1.1 host services) with the test plugin's tracker operator.
add_test(NAME integration.track
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_track.py
          $<TARGET_FILE:pipehost> ${PH_TEST_PLUGIN_DIR})
set_tests_properties(integration.track PROPERTIES TIMEOUT 300)

# db clean (issue 21): old runs go, what is referenced stays, archived.
add_test(NAME integration.db_clean
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_clean.py
          $<TARGET_FILE:pipehost> ${PH_TEST_PLUGIN_DIR})
set_tests_properties(integration.db_clean PROPERTIES TIMEOUT 120)
