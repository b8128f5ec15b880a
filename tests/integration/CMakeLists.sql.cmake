# sql / sql_sensor on SQLite and a real PostgreSQL 15 (PH_TEST_PG_URI from
# tests/run_all.sh's services, or started by the test itself).
add_test(NAME integration.sql
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sql.py
          $<TARGET_FILE:pipehost> ${CMAKE_CURRENT_SOURCE_DIR}/integration/services)
set_tests_properties(integration.sql PROPERTIES TIMEOUT 300)
