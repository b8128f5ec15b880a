# The same integration tests with the metadata store on PostgreSQL (one
# suite, both backends): each in a schema of its own of $PH_TEST_PG_URI
# (tests/integration/on_pg.sh), skipped without it.  The tests that read
# the SQLite file directly, or test SQLite itself (trust, clean), run on
# SQLite only; integration.pgstore covers PostgreSQL's own faults.
set(PH_ON_PG bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/on_pg.sh)
set(PH_IT ${CMAKE_CURRENT_SOURCE_DIR}/integration)
foreach(t datasets fidelity ml file_sensor email http)
  add_test(NAME integration.${t}.pg
    COMMAND ${PH_ON_PG} ${t} /usr/bin/python3 ${PH_IT}/test_${t}.py
            $<TARGET_FILE:pipehost>)
endforeach()
add_test(NAME integration.track.pg
  COMMAND ${PH_ON_PG} track /usr/bin/python3 ${PH_IT}/test_track.py
          $<TARGET_FILE:pipehost> ${PH_TEST_PLUGIN_DIR})
add_test(NAME integration.cli.pg
  COMMAND ${PH_ON_PG} cli /usr/bin/python3 ${PH_IT}/test_cli.py
          $<TARGET_FILE:pipehost> ${PH_TEST_PLUGIN_DIR} ${PH_BAD_PLUGIN_DIR})
add_test(NAME integration.ml_sweep.pg
  COMMAND ${PH_ON_PG} ml_sweep /usr/bin/python3 ${PH_IT}/test_ml_sweep.py
          $<TARGET_FILE:pipehost> ${PROJECT_SOURCE_DIR}/examples)
add_test(NAME integration.demo.pg
  COMMAND ${PH_ON_PG} demo /usr/bin/python3 ${PH_IT}/test_demo.py
          $<TARGET_FILE:pipehost> ${PROJECT_SOURCE_DIR}/examples)
add_test(NAME integration.warm.pg
  COMMAND ${PH_ON_PG} warm /usr/bin/python3 ${PH_IT}/test_warm.py
          $<TARGET_FILE:pipehost> ${PH_PREFORK_PLUGIN_DIR})
foreach(t datasets fidelity ml file_sensor email http track cli ml_sweep demo
          warm)
  set_tests_properties(integration.${t}.pg PROPERTIES TIMEOUT 600
                       SKIP_RETURN_CODE 77)
endforeach()
