# Python API tests (pytest, label "python"): one ctest test running tests/python against the
# package assembled in <build>/python (python/CMakeLists.txt). Model fixtures come from
# <build>/models (scripts/test generates them); tests that need them skip where absent.
if(TARGET kiln_python)
  add_test(NAME python.pytest
           COMMAND ${Python3_EXECUTABLE} -m pytest -q -p no:cacheprovider
                   ${CMAKE_SOURCE_DIR}/tests/python
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set(kiln_pytest_environment
      "PYTHONPATH=${CMAKE_BINARY_DIR}/python"
      "KILN_MODELS_DIR=${CMAKE_BINARY_DIR}/models"
      "PYTHONDONTWRITEBYTECODE=1")
  set_tests_properties(python.pytest PROPERTIES
    LABELS python
    TIMEOUT 600
    ENVIRONMENT "${kiln_pytest_environment}")
else()
  # No bindings in this build (nanobind missing): say so instead of silently running nothing.
  add_test(NAME python.pytest
           COMMAND ${CMAKE_COMMAND} -E echo "python.pytest skipped: the Python bindings are not "
                   "built (pip install nanobind, then reconfigure)")
  set_tests_properties(python.pytest PROPERTIES LABELS python SKIP_REGULAR_EXPRESSION "skipped")
endif()
