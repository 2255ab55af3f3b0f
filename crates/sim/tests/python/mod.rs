//! Running the Python peers of the interoperability tests: scripts beside
//! the tests, run by the .venv that `scripts/python-env` makes.

use std::path::Path;

use serde_json::Value as Json;

/// The Python of the .venv.
const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");

/// Runs `script`, a file under `tests/`, with `plan` as its one argument,
/// and returns the JSON report it prints. Fails the test if it fails.
pub async fn run(script: &str, plan: &Json) -> Json {
    assert!(
        Path::new(PYTHON).exists(),
        "{PYTHON} is missing: run scripts/python-env to create the Python peers"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    let output = tokio::process::Command::new(PYTHON)
        .arg(script)
        .arg(plan.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
}
