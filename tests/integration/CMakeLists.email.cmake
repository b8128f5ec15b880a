# email and email_on_failure / email_on_retry against a real SMTP server
# (aiosmtpd with STARTTLS and AUTH, started by the test).
add_test(NAME integration.email
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_email.py
          $<TARGET_FILE:pipehost>)
set_tests_properties(integration.email PROPERTIES TIMEOUT 300)
