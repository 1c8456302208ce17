"""Load a JUnit XML report with junitparser (the parser behind GitHub's
publish-unit-test-result action) and print what it saw as JSON."""
import json
import sys

from junitparser import JUnitXml

xml = JUnitXml.fromfile(sys.argv[1])
suites = []
for suite in xml:
    cases = []
    for case in suite:
        cases.append(
            {
                "name": case.name,
                "classname": case.classname,
                "result": [type(r).__name__ for r in case.result],
                "message": [r.message for r in case.result],
                "time": case.time,
                "system_out": case.system_out,
            }
        )
    suites.append(
        {
            "name": suite.name,
            "tests": suite.tests,
            "failures": suite.failures,
            "errors": suite.errors,
            "skipped": suite.skipped,
            "cases": cases,
        }
    )
print(json.dumps({"tests": xml.tests, "failures": xml.failures, "errors": xml.errors, "suites": suites}))
