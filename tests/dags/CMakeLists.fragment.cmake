# One ctest per scenario and format: tests/dags/<name>/{dag.yaml,dag.lua,expected.json}
file(GLOB PH_SCENARIOS LIST_DIRECTORIES true CONFIGURE_DEPENDS
     ${CMAKE_CURRENT_SOURCE_DIR}/dags/*)
foreach(d ${PH_SCENARIOS})
  if(IS_DIRECTORY ${d} AND EXISTS ${d}/expected.json)
    get_filename_component(n ${d} NAME)
    foreach(fmt yaml lua)
      if(EXISTS ${d}/dag.${fmt})
        add_test(NAME scenario.${n}.${fmt}
          COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/dags/run_scenario.py
                  --pipehost $<TARGET_FILE:pipehost> --dir ${d} --format ${fmt})
        set_tests_properties(scenario.${n}.${fmt} PROPERTIES
          SKIP_RETURN_CODE 77 TIMEOUT 60)
        # the same scenario with the store on PostgreSQL (one suite, both
        # backends; a schema of its own, tests/integration/on_pg.sh): YAML
        # only, the format does not reach the store
        if(fmt STREQUAL "yaml")
          add_test(NAME scenario.${n}.pg
            COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/on_pg.sh
                    scen_${n} /usr/bin/python3
                    ${CMAKE_CURRENT_SOURCE_DIR}/dags/run_scenario.py
                    --pipehost $<TARGET_FILE:pipehost> --dir ${d} --format yaml)
          set_tests_properties(scenario.${n}.pg PROPERTIES
            SKIP_RETURN_CODE 77 TIMEOUT 60)
        endif()
      endif()
    endforeach()
  endif()
endforeach()
