# The Slurm executor on a real single-node Slurm (SLURM_CONF from
# tests/run_all.sh's services, or started by the test itself; skipped
# without root or Slurm's packages).
add_test(NAME integration.slurm
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_slurm.py
          $<TARGET_FILE:pipehost> ${CMAKE_CURRENT_SOURCE_DIR}/integration/services)
set_tests_properties(integration.slurm PROPERTIES TIMEOUT 400 SKIP_RETURN_CODE 77)
