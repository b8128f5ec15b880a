# The metadata store on a real PostgreSQL 15 (PH_TEST_PG_URI from
# tests/run_all.sh's services, or started by the test itself).
add_test(NAME integration.pgstore
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_pgstore.py
          $<TARGET_FILE:pipehost> ${CMAKE_CURRENT_SOURCE_DIR}/integration/services)
set_tests_properties(integration.pgstore PROPERTIES TIMEOUT 300)
