# train / predict / model_promote against scikit-learn and python3-xgboost
# (Debian's, run by the test as the oracle).
add_test(NAME integration.ml
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_ml.py
          $<TARGET_FILE:pipehost>)
set_tests_properties(integration.ml PROPERTIES TIMEOUT 600)
