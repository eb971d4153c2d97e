//! RFC 6962 known-answer tests: the published transparency-dev/merkle vectors (valid and
//! tampered inclusion and consistency proofs), committed with their licence and provenance in
//! `tests/vectors/rfc6962/` (or read from `$RFC6962_VECTORS`).

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ledger::Hash;
use ledger::merkle::{
    Frontier, LeafIndex, TreeSize, leaf_hash, node_hash, root_of, verify_consistency, verify_inclusion,
};
use serde_json::Value;

fn vectors() -> PathBuf {
    match std::env::var_os("RFC6962_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/rfc6962"),
    }
}

fn files(kind: &str) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut stack = vec![vectors().join(kind)];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "{}: {e} — the RFC 6962 vectors are committed in shared/ledger/tests/vectors/rfc6962",
                dir.display()
            )
        });
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                out.push((path, value));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn bytes(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap()).unwrap()
}

fn proof(v: &Value) -> Vec<Vec<u8>> {
    v.as_array().map(|a| a.iter().map(bytes).collect()).unwrap_or_default()
}

/// Run every vector of `kind` through `verify`; each must be accepted or rejected as it says.
fn run(kind: &str, verify: impl Fn(&Value) -> Result<(), ledger::merkle::ProofError>) {
    let cases = files(kind);
    assert!(
        cases.len() > 50,
        "expected the full {kind} vector set, found {}",
        cases.len()
    );
    let (mut accepted, mut rejected) = (0, 0);
    for (path, v) in &cases {
        let result = verify(v);
        let want_err = v["wantErr"].as_bool().unwrap();
        assert_eq!(
            result.is_err(),
            want_err,
            "{}: {} → {result:?}",
            path.display(),
            v["desc"]
        );
        if want_err { rejected += 1 } else { accepted += 1 }
    }
    assert!(
        accepted > 0 && rejected > accepted,
        "{kind}: accepted {accepted}, rejected {rejected}"
    );
}

#[test]
fn inclusion_vectors() {
    run("inclusion", |v| {
        verify_inclusion(
            LeafIndex(v["leafIdx"].as_u64().unwrap()),
            TreeSize(v["treeSize"].as_u64().unwrap()),
            &bytes(&v["leafHash"]),
            &proof(&v["proof"]),
            &bytes(&v["root"]),
        )
    });
}

#[test]
fn consistency_vectors() {
    run("consistency", |v| {
        verify_consistency(
            TreeSize(v["size1"].as_u64().unwrap()),
            TreeSize(v["size2"].as_u64().unwrap()),
            &bytes(&v["root1"]),
            &bytes(&v["root2"]),
            &proof(&v["proof"]),
        )
    });
}

/// The tree of the transparency-dev test data: leaves are these byte strings.
fn reference_leaves() -> Vec<Hash> {
    let data: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    data.iter().map(|d| leaf_hash(d)).collect()
}

#[test]
fn leaf_and_node_hashing_known_answers() {
    // RFC 6962 §2.1: the empty tree, a leaf, a node.
    assert_eq!(
        root_of(&[]).to_hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        leaf_hash(b"").to_hex(),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    let l = leaf_hash(b"");
    let r = leaf_hash(b"\x00");
    assert_eq!(
        r.to_hex(),
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
    );
    assert_eq!(
        node_hash(&l, &r).to_hex(),
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
    );
}

#[test]
fn roots_of_the_reference_tree_match_the_vectors() {
    let leaves = reference_leaves();
    // The inclusion vectors give the root of the 8-leaf tree.
    let happy = files("inclusion")
        .into_iter()
        .find(|(p, v)| p.ends_with("1/happy-path.json") && v["treeSize"] == 8)
        .unwrap()
        .1;
    assert_eq!(root_of(&leaves).as_bytes().to_vec(), bytes(&happy["root"]));
    assert_eq!(leaves[0].as_bytes().to_vec(), bytes(&happy["leafHash"]));
    // The frontier the writer keeps reaches the same roots as the recursive definition.
    let mut f = Frontier::new();
    for (i, leaf) in leaves.iter().enumerate() {
        f.push(*leaf);
        assert_eq!(f.root(), root_of(&leaves[..=i]));
    }
    // Roots published in the consistency vectors for smaller sizes.
    for (path, v) in files("consistency") {
        if v["wantErr"] == false && path.to_string_lossy().contains("happy-path") {
            for (size, root) in [(&v["size1"], &v["root1"]), (&v["size2"], &v["root2"])] {
                let size = size.as_u64().unwrap() as usize;
                if (1..=8).contains(&size) {
                    assert_eq!(
                        root_of(&leaves[..size]).as_bytes().to_vec(),
                        bytes(root),
                        "{} size {size}",
                        path.display()
                    );
                }
            }
        }
    }
}
