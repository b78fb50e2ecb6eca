//! Counts the resilience and bad-input tests leave for the CI log.
//!
//! Test output is captured for passing tests, so each count is appended as one line to
//! `target/tmp/resilience-report.txt`; `dev/test` prints that file after the suite.

use std::io::Write;

/// Appends `resilience: <area>: <line>` to the report (one `write` per line, so parallel tests
/// never interleave within a line).
pub fn report(area: &str, line: impl std::fmt::Display) {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("resilience-report.txt");
    let text = format!("resilience: {area}: {line}\n");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    file.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
