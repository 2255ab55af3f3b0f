//! Replays every committed fuzz input through its target's check, on
//! stable Rust and without a fuzzer: the seeds under `fuzz/corpus/NAME/`
//! and the inputs that once found a bug, under `fuzz/regressions/NAME/`.
//! A bug a fuzzer found therefore stays fixed in every `scripts/test` run.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use flowline_fuzz_checks::{Check, TARGETS};

/// The `fuzz/` directory at the repository root.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files in `dir`, in name order; none if it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on every file in `dir`; returns the files it failed on,
/// each with the failure.
fn replay(dir: &Path, check: Check) -> Vec<String> {
    let mut failures = Vec::new();
    for file in inputs(dir) {
        let data = fs::read(&file).expect("a readable input");
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| check(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {message}", file.display()));
        }
    }
    failures
}

/// The names of the subdirectories of `dir`; none if it does not exist.
fn subdirectories(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_dir())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_seed_and_past_finding_passes_its_targets_checks() {
    let mut failures = Vec::new();
    for (name, check) in TARGETS {
        let seeds = fuzz_dir().join("corpus").join(name);
        assert!(
            !inputs(&seeds).is_empty(),
            "fuzz target {name} has no seeds in {}",
            seeds.display()
        );
        failures.extend(replay(&seeds, *check));
        failures.extend(replay(&fuzz_dir().join("regressions").join(name), *check));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_corpus_directory_and_fuzz_target_belongs_to_a_check() {
    let names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    for kind in ["corpus", "regressions"] {
        for directory in subdirectories(&fuzz_dir().join(kind)) {
            assert!(names.contains(&directory.as_str()), "{kind}/{directory}");
        }
    }
    for target in inputs(&fuzz_dir().join("fuzz_targets")) {
        let name = target.file_stem().unwrap().to_string_lossy();
        assert!(names.contains(&name.as_ref()), "{}", target.display());
    }
    for name in names {
        let target = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(target.is_file(), "no fuzz target {}", target.display());
    }
}
