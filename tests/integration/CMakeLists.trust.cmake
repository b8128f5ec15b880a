# Trust at the edges (issue 15): signals to the run's process group, pid
# reuse, a full disk (a small tmpfs; needs root), a damaged store, hostile
# text and secrets.
add_test(NAME integration.trust
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_trust.py
          $<TARGET_FILE:pipehost> ${PH_TEST_PLUGIN_DIR} ${PH_HOSTILE_PLUGIN_DIR})
set_tests_properties(integration.trust PROPERTIES TIMEOUT 600)
