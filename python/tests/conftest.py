# SPDX-License-Identifier: MIT

pytest_plugins = ["uvf.pytest_plugin", "pytester"]

def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # the closing line scripts/test.sh counts
    stats = terminalreporter.stats
    passed = len(stats.get("passed", []))
    failed = len(stats.get("failed", [])) + len(stats.get("error", []))
    skipped = len(stats.get("skipped", []))
    terminalreporter.write_line("python: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
