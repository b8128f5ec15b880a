# train / predict / model_promote against scikit-learn and python3-xgboost
# (Debian's, run by the test as the oracle).
add_test(NAME integration.ml
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_ml.py
          $<TARGET_FILE:pipehost>)
set_tests_properties(integration.ml PROPERTIES TIMEOUT 600)

# The sweep demo (issue 20): mapped folds x settings, the reduce, the
# paired t-test, the rerun all cache hits, one more grid point.
add_test(NAME integration.ml_sweep
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_ml_sweep.py
          $<TARGET_FILE:pipehost> ${PROJECT_SOURCE_DIR}/examples)
set_tests_properties(integration.ml_sweep PROPERTIES TIMEOUT 300)
