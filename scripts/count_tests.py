"""Counts meson test results from testlog.json: prints 'PASSED FAILED SKIPPED' on stdout
and, on stderr, one 'failed: NAME (RESULT)' line per failed test, so the end of a CI log
names what failed even when the log itself is cut."""
import json
import sys

passed = failed = skipped = 0
with open(sys.argv[1]) as log:
    for line in log:
        test = json.loads(line)
        result = test.get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
            print(f"failed: {test.get('name')} ({result})", file=sys.stderr)
print(passed, failed, skipped)
