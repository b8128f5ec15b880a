# Scheduling: backfill, catchup, pools, weight rules, depends_on_past,
# trigger, clear, the long-running scheduler; and the kill -9 torture.
add_test(NAME integration.scheduler
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_scheduler.py
          $<TARGET_FILE:pipehost>)
set_tests_properties(integration.scheduler PROPERTIES TIMEOUT 600)
add_test(NAME integration.kill9_torture
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/kill9_torture.py
          $<TARGET_FILE:pipehost> 30)
set_tests_properties(integration.kill9_torture PROPERTIES TIMEOUT 900)

# Command operators (ABI 1.3): bash tasks started by the host, no worker;
# once through the host's clone (PIPEHOST_POSIX_SPAWN=0), once through
# glibc's posix_spawn.
foreach(ps 0 1)
  set(name integration.bash_direct)
  if(ps)
    set(name integration.bash_direct_posix_spawn)
  endif()
  add_test(NAME ${name}
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_bash_direct.py
            $<TARGET_FILE:pipehost>)
  set_tests_properties(${name} PROPERTIES TIMEOUT 120
    ENVIRONMENT PIPEHOST_POSIX_SPAWN=${ps})
endforeach()

# Airflow fidelity under the scheduler and in runs (issue 16): latest_only,
# max_active_tasks, file_sensor on a directory, trigger_run_id.
add_test(NAME integration.fidelity
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_fidelity.py
          $<TARGET_FILE:pipehost>)
set_tests_properties(integration.fidelity PROPERTIES TIMEOUT 300)

# Warm workers (issue 21): spares, prefork zygotes, and their faults.
add_test(NAME integration.warm
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_warm.py
          $<TARGET_FILE:pipehost> ${PH_PREFORK_PLUGIN_DIR})
set_tests_properties(integration.warm PROPERTIES TIMEOUT 120)

# Dynamic task mapping (issue 20): a cache per instance, limits, kill -9
# and resume with instances running, clear, the CLI's view of instances.
add_test(NAME integration.mapping
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_mapping.py
          $<TARGET_FILE:pipehost>)
set_tests_properties(integration.mapping PROPERTIES TIMEOUT 300)

# Datasets (issue 20): outlet events, datasets list/show/stale, lineage,
# dataset-triggered runs and lazy freshness under the real scheduler, and
# OpenLineage events checked by a local HTTP server.
add_test(NAME integration.datasets
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_datasets.py
          $<TARGET_FILE:pipehost>)
set_tests_properties(integration.datasets PROPERTIES TIMEOUT 300)
