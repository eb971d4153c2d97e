//! Property: every random mutation of a valid ledger is detected, and an untouched ledger
//! always verifies (fixed seed: a failure reproduces).

mod common;

use std::sync::OnceLock;

use common::*;
use ledger::{Verifier, VerifyOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

const SIZE: usize = 24;
const LAST: usize = SIZE - 1;

struct Fixture {
    lines: Vec<String>,
    checkpoint: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // The format the service writes: v2, personal values as commitments.
        let (entries, head, _) = chain_v2("contoso-partner", SIZE as u64);
        Fixture {
            lines: entries.into_iter().map(|e| e.line).collect(),
            checkpoint: head.sign_checkpoint(LOG_NAME, &key()),
        }
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Replace one byte of one line by a different byte (never the newline).
    EditByte {
        line: usize,
        at: usize,
        xor: u8,
    },
    Delete {
        line: usize,
    },
    Swap {
        a: usize,
        b: usize,
    },
    Duplicate {
        line: usize,
        to: usize,
    },
    /// Cut `count` entries off the end while the auditor holds a checkpoint of the full size.
    Truncate {
        count: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0..SIZE, any::<prop::sample::Index>(), 1u8..=255).prop_map(|(line, at, xor)| Mutation::EditByte {
            line,
            at: at.index(usize::MAX),
            xor
        }),
        (0..SIZE).prop_map(|line| Mutation::Delete { line }),
        (0..SIZE, 0..SIZE)
            .prop_filter("distinct", |(a, b)| a != b)
            .prop_map(|(a, b)| Mutation::Swap { a, b }),
        (0..SIZE, 0..=SIZE).prop_map(|(line, to)| Mutation::Duplicate { line, to }),
        (1..=SIZE).prop_map(|count| Mutation::Truncate { count }),
    ]
}

fn apply(lines: &[String], m: &Mutation) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
    match *m {
        Mutation::EditByte { line, at, xor } => {
            let l = &mut out[line];
            let i = at % l.len();
            l[i] ^= xor;
            if l[i] == b'\n' {
                l[i] = b'?';
            }
        }
        Mutation::Delete { line } => {
            out.remove(line);
        }
        Mutation::Swap { a, b } => out.swap(a, b),
        Mutation::Duplicate { line, to } => {
            let copy = out[line].clone();
            out.insert(to, copy);
        }
        Mutation::Truncate { count } => out.truncate(SIZE - count),
    }
    out
}

fn verify(lines: &[Vec<u8>], with_checkpoint: bool) -> bool {
    let options = VerifyOptions {
        log: Some(log()),
        ..VerifyOptions::default()
    };
    let mut verifier = Verifier::new(trusted(), options);
    if with_checkpoint {
        verifier.add_checkpoint(&fixture().checkpoint, "kept").unwrap();
    }
    let mut file = Vec::new();
    for l in lines {
        file.extend_from_slice(l);
        file.push(b'\n');
    }
    verifier.verify(file.as_slice(), |_| {}).is_ok()
}

/// 2,000 cases; `LEDGER_TAMPER_CASES` lowers it for `.ci/mutants`, which runs this once per mutant.
fn tamper_cases() -> u32 {
    std::env::var("LEDGER_TAMPER_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

proptest! {
    #![proptest_config(Config { cases: tamper_cases(), rng_seed: RngSeed::Fixed(0x1ed9_e700_0000_0003), failure_persistence: None, ..Config::default() })]

    #[test]
    fn every_mutation_is_detected(m in mutation()) {
        let f = fixture();
        let mutated = apply(&f.lines, &m);
        // Truncation (deleting the last entry is one) is only detectable against a kept
        // checkpoint; everything else is detected by the chain alone, and with it too.
        if !matches!(m, Mutation::Truncate { .. } | Mutation::Delete { line: LAST }) {
            prop_assert!(!verify(&mutated, false), "undetected without checkpoint: {:?}", m);
        }
        prop_assert!(!verify(&mutated, true), "undetected with checkpoint: {:?}", m);
    }

    #[test]
    fn an_untouched_prefix_always_verifies(n in 0..=SIZE) {
        let f = fixture();
        let prefix: Vec<Vec<u8>> = f.lines[..n].iter().map(|l| l.as_bytes().to_vec()).collect();
        prop_assert!(verify(&prefix, false));
    }
}

#[test]
fn the_untouched_ledger_verifies_with_its_checkpoint() {
    let lines: Vec<Vec<u8>> = fixture().lines.iter().map(|l| l.as_bytes().to_vec()).collect();
    assert!(verify(&lines, true));
}
