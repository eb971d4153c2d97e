//! The fuzz targets' properties over their seed corpus (the test vectors and hand-written
//! inputs) and every regression input found by fuzzing (`tests/fuzz/regressions/<target>/`),
//! on stable Rust: what CI runs of the fuzzing (the long runs are `tests/fuzz/run`).
//!
//! `LEDGERDESK_WRITE_FUZZ_SEEDS=<dir>` also writes the seeds to `<dir>/<target>/` (the
//! corpus directories `cargo fuzz` starts from).

use ledgerdesk_fuzz::{properties, seeds};

use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn check(target: &str, input: &[u8]) {
    match target {
        "entry_line" => properties::entry_line(input),
        "export" => properties::export(input),
        "note" => properties::note(input),
        "bundle" => properties::bundle(input),
        "receipt" => properties::receipt(input),
        "disclosures" => properties::disclosures(input),
        "create_body" => properties::create_body(input),
        "patch_body" => properties::patch_body(input),
        "query" => properties::query(input),
        "cursor" => properties::cursor(input),
        "claims" => properties::claims(input),
        other => panic!("no fuzz target {other}"),
    }
}

#[test]
fn every_seed_and_regression_input_holds_every_property() {
    let out = std::env::var_os("LEDGERDESK_WRITE_FUZZ_SEEDS").map(std::path::PathBuf::from);
    let mut counts = Vec::new();
    for target in seeds::TARGETS {
        let mut inputs = seeds::seeds(root(), target);
        assert!(!inputs.is_empty(), "{target} has no seeds");
        if let Some(dir) = &out {
            let dir = dir.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, input) in inputs.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i:04}")), input).unwrap();
            }
        }
        let regressions = root().join("tests/fuzz/regressions").join(target);
        if let Ok(entries) = std::fs::read_dir(&regressions) {
            for entry in entries.flatten() {
                inputs.push(std::fs::read(entry.path()).unwrap());
            }
        }
        for input in &inputs {
            check(target, input);
        }
        counts.push(format!("{target}: {}", inputs.len()));
    }
    println!("{}", counts.join(", "));
}
