//! The RFC 6962 / RFC 9162 Merkle tree over a chain's entry hashes.
//!
//! Leaf `i` is `SHA-256(0x00 ‖ entry_hash_i)`; an interior node is `SHA-256(0x01 ‖ left ‖ right)`;
//! the root of the empty tree is `SHA-256("")`. The writer keeps only a [`Frontier`] (the
//! roots of the perfect subtrees the tree decomposes into: at most 64 hashes), which is enough
//! to append and to compute the root.

use sha2::{Digest, Sha256};

use crate::hash::Hash;

pub const LEAF_PREFIX: u8 = 0x00;
pub const NODE_PREFIX: u8 = 0x01;

/// `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    if let Ok(hash) = <&[u8; 32]>::try_from(data) {
        // The ledger's leaves are entry hashes: one contiguous block, no incremental buffering.
        let mut input = [LEAF_PREFIX; 33];
        input[1..].copy_from_slice(hash);
        return Hash(Sha256::digest(input).into());
    }
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(data);
    Hash(h.finalize().into())
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut input = [NODE_PREFIX; 65];
    input[1..33].copy_from_slice(&left.0);
    input[33..].copy_from_slice(&right.0);
    Hash(Sha256::digest(input).into())
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    Hash::digest(b"")
}

/// The position of a leaf (an entry's `seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LeafIndex(pub u64);

/// The number of leaves in a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TreeSize(pub u64);

/// The compact state of an append-only Merkle tree: the roots of its perfect subtrees, left to right.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a frontier of size {size} has {expected} subtree roots, not {actual}")]
pub struct BadFrontier {
    size: u64,
    expected: u32,
    actual: usize,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuild from stored parts, checking that they fit together.
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Result<Self, BadFrontier> {
        if nodes.len() != size.count_ones() as usize {
            return Err(BadFrontier {
                size,
                expected: size.count_ones(),
                actual: nodes.len(),
            });
        }
        Ok(Self { size, nodes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Append a leaf hash (already `leaf_hash`ed).
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut size = self.size;
        while size & 1 == 1 {
            if let Some(left) = self.nodes.pop() {
                node = node_hash(&left, &node);
            }
            size >>= 1;
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// The tree's root (RFC 6962 MTH).
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

/// MTH over a slice of leaf hashes.
fn subtree_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = largest_power_of_two_below(n as u64) as usize;
            node_hash(&subtree_root(&leaves[..k]), &subtree_root(&leaves[k..]))
        }
    }
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn largest_power_of_two_below(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The root of the tree over `leaves` (leaf hashes).
pub fn root_of(leaves: &[Hash]) -> Hash {
    subtree_root(leaves)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("a proof hash is not 32 bytes")]
    BadHashLength,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
    #[error("sizes {first} and {second} do not allow a consistency proof")]
    BadSizes { first: u64, second: u64 },
}

/// Where a prover gets the hashes it needs: the root of the perfect subtree of height
/// `level` over leaves `[index·2^level, (index+1)·2^level)` (a leaf hash for level 0). A slice
/// of leaf hashes is one source; the log's stored tiles ([`crate::tiles`]) are another.
pub trait NodeSource {
    type Error;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// A slice of leaf hashes as a node source.
#[derive(Debug, Clone, Copy)]
pub struct Leaves<'a>(pub &'a [Hash]);

impl NodeSource for Leaves<'_> {
    type Error = std::convert::Infallible;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        let from = (index << level) as usize;
        let to = ((index + 1) << level) as usize;
        Ok(subtree_root(self.0.get(from..to).unwrap_or_default()))
    }
}

/// Either the proof is impossible or the source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProveFrom<E> {
    #[error(transparent)]
    Proof(ProofError),
    #[error("a hash the proof needs is not available")]
    Source(E),
}

/// MTH(D[lo:hi]) for a range the RFC 6962 recursion produces (`lo` is a multiple of a power
/// of two at least `hi − lo`): a perfect subtree, or a perfect left part and the rest.
fn range_root<S: NodeSource>(source: &mut S, lo: u64, hi: u64) -> Result<Hash, S::Error> {
    let size = hi - lo;
    if size == 0 {
        return Ok(empty_root());
    }
    if size.is_power_of_two() {
        let level = size.trailing_zeros();
        return source.node(level, lo >> level);
    }
    let k = largest_power_of_two_below(size);
    let left = range_root(source, lo, lo + k)?;
    let right = range_root(source, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// RFC 6962 PATH(m, D[n]): the inclusion proof of leaf `index` among `leaves`.
pub fn inclusion_proof(leaves: &[Hash], index: LeafIndex) -> Result<Vec<Hash>, ProofError> {
    inclusion_proof_from(&mut Leaves(leaves), index, TreeSize(leaves.len() as u64)).map_err(|e| match e {
        ProveFrom::Proof(p) => p,
        ProveFrom::Source(never) => match never {},
    })
}

/// PATH(index, D[size]) from any node source.
pub fn inclusion_proof_from<S: NodeSource>(
    source: &mut S,
    index: LeafIndex,
    size: TreeSize,
) -> Result<Vec<Hash>, ProveFrom<S::Error>> {
    if index.0 >= size.0 {
        return Err(ProveFrom::Proof(ProofError::IndexOutOfRange {
            index: index.0,
            size: size.0,
        }));
    }
    let mut proof = Vec::new();
    path(source, index.0, 0, size.0, &mut proof).map_err(ProveFrom::Source)?;
    Ok(proof)
}

fn path<S: NodeSource>(source: &mut S, m: u64, lo: u64, hi: u64, proof: &mut Vec<Hash>) -> Result<(), S::Error> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = largest_power_of_two_below(n);
    if m < k {
        path(source, m, lo, lo + k, proof)?;
        proof.push(range_root(source, lo + k, hi)?);
    } else {
        path(source, m - k, lo + k, hi, proof)?;
        proof.push(range_root(source, lo, lo + k)?);
    }
    Ok(())
}

/// RFC 6962 PROOF(m, D[n]): the consistency proof from the first `first` leaves to all of `leaves`.
pub fn consistency_proof(leaves: &[Hash], first: TreeSize) -> Result<Vec<Hash>, ProofError> {
    consistency_proof_from(&mut Leaves(leaves), first, TreeSize(leaves.len() as u64)).map_err(|e| match e {
        ProveFrom::Proof(p) => p,
        ProveFrom::Source(never) => match never {},
    })
}

/// PROOF(first, D[second]) from any node source.
pub fn consistency_proof_from<S: NodeSource>(
    source: &mut S,
    first: TreeSize,
    second: TreeSize,
) -> Result<Vec<Hash>, ProveFrom<S::Error>> {
    if first.0 == 0 || first.0 > second.0 {
        return Err(ProveFrom::Proof(ProofError::BadSizes {
            first: first.0,
            second: second.0,
        }));
    }
    let mut proof = Vec::new();
    if first.0 < second.0 {
        subproof(source, first.0, 0, second.0, true, &mut proof).map_err(ProveFrom::Source)?;
    }
    Ok(proof)
}

fn subproof<S: NodeSource>(
    source: &mut S,
    m: u64,
    lo: u64,
    hi: u64,
    complete: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = hi - lo;
    if m == n {
        if !complete {
            proof.push(range_root(source, lo, hi)?);
        }
        return Ok(());
    }
    let k = largest_power_of_two_below(n);
    if m <= k {
        subproof(source, m, lo, lo + k, complete, proof)?;
        proof.push(range_root(source, lo + k, hi)?);
    } else {
        subproof(source, m - k, lo + k, hi, false, proof)?;
        proof.push(range_root(source, lo, lo + k)?);
    }
    Ok(())
}

/// The root of the tree of `size` leaves from any node source.
pub fn root_from<S: NodeSource>(source: &mut S, size: TreeSize) -> Result<Hash, S::Error> {
    range_root(source, 0, size.0)
}

fn to_hash(bytes: &[u8]) -> Result<Hash, ProofError> {
    Hash::from_slice(bytes).ok_or(ProofError::BadHashLength)
}

/// RFC 9162 §2.1.3.2: check that `leaf` (a leaf hash) is at `index` in the tree of `size` with `root`.
pub fn verify_inclusion(
    index: LeafIndex,
    size: TreeSize,
    leaf: &[u8],
    proof: &[impl AsRef<[u8]>],
    root: &[u8],
) -> Result<(), ProofError> {
    if index.0 >= size.0 {
        return Err(ProofError::IndexOutOfRange {
            index: index.0,
            size: size.0,
        });
    }
    let mut f_n = index.0;
    let mut s_n = size.0 - 1;
    let mut r = to_hash(leaf)?;
    for p in proof {
        let p = to_hash(p.as_ref())?;
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(&p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, &p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if r.as_bytes().as_slice() != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: check that the tree of `second` leaves with `second_root` extends the
/// tree of `first` leaves with `first_root`.
pub fn verify_consistency(
    first: TreeSize,
    second: TreeSize,
    first_root: &[u8],
    second_root: &[u8],
    proof: &[impl AsRef<[u8]>],
) -> Result<(), ProofError> {
    if first.0 > second.0 {
        return Err(ProofError::BadSizes {
            first: first.0,
            second: second.0,
        });
    }
    if first.0 == second.0 {
        // Nothing to prove, but the trees must be the same (and not empty: an empty tree
        // commits to nothing, so a "consistency" with it is meaningless).
        if first.0 == 0 {
            return Err(ProofError::BadSizes {
                first: first.0,
                second: second.0,
            });
        }
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if first_root == second_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if first.0 == 0 {
        return Err(ProofError::BadSizes {
            first: first.0,
            second: second.0,
        });
    }
    let mut path: Vec<Hash> = proof.iter().map(|p| to_hash(p.as_ref())).collect::<Result<_, _>>()?;
    if path.is_empty() {
        return Err(ProofError::WrongLength);
    }
    if first.0.is_power_of_two() {
        path.insert(0, to_hash(first_root).map_err(|_| ProofError::RootMismatch)?);
    }
    let mut f_n = first.0 - 1;
    let mut s_n = second.0 - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut iter = path.into_iter();
    let seed = iter.next().ok_or(ProofError::WrongLength)?;
    let (mut f_r, mut s_r) = (seed, seed);
    for c in iter {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(&c, &f_r);
            s_r = node_hash(&c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, &c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if f_r.as_bytes().as_slice() != first_root || s_r.as_bytes().as_slice() != second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn a_consistency_proof_is_refused_from_no_leaves_or_past_the_tree() {
        let all = leaves(4);
        for first in [0, 5, 9] {
            assert_eq!(
                consistency_proof(&all, TreeSize(first)),
                Err(ProofError::BadSizes { first, second: 4 }),
                "from {first}"
            );
        }
        assert_eq!(
            consistency_proof(&all, TreeSize(4)),
            Ok(Vec::new()),
            "to itself: nothing to prove"
        );
        assert_eq!(consistency_proof(&all, TreeSize(2)).map(|p| p.len()), Ok(1));
    }

    #[test]
    fn frontier_root_matches_the_recursive_definition() {
        let all = leaves(70);
        let mut f = Frontier::new();
        assert_eq!(f.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            f.push(*leaf);
            assert_eq!(f.root(), root_of(&all[..=i]), "size {}", i + 1);
            assert_eq!(f.nodes().len(), (i as u64 + 1).count_ones() as usize);
        }
        assert_eq!(Frontier::from_parts(f.size(), f.nodes().to_vec()).unwrap(), f);
        assert!(Frontier::from_parts(f.size() + 1, f.nodes().to_vec()).is_err());
    }

    #[test]
    fn every_generated_proof_verifies_and_a_wrong_root_does_not() {
        let all = leaves(23);
        for n in 1..=all.len() {
            let tree = &all[..n];
            let root = root_of(tree);
            for m in 0..n {
                let proof = inclusion_proof(tree, LeafIndex(m as u64)).unwrap();
                verify_inclusion(
                    LeafIndex(m as u64),
                    TreeSize(n as u64),
                    tree[m].as_bytes(),
                    &proof,
                    root.as_bytes(),
                )
                .unwrap();
                let other = leaf_hash(b"other");
                assert!(
                    verify_inclusion(
                        LeafIndex(m as u64),
                        TreeSize(n as u64),
                        other.as_bytes(),
                        &proof,
                        root.as_bytes()
                    )
                    .is_err()
                );
            }
            for m in 1..=n {
                let proof = consistency_proof(tree, TreeSize(m as u64)).unwrap();
                let old = root_of(&tree[..m]);
                verify_consistency(
                    TreeSize(m as u64),
                    TreeSize(n as u64),
                    old.as_bytes(),
                    root.as_bytes(),
                    &proof,
                )
                .unwrap();
                if m < n {
                    let forged = root_of(&all[1..=m]);
                    assert!(
                        verify_consistency(
                            TreeSize(m as u64),
                            TreeSize(n as u64),
                            forged.as_bytes(),
                            root.as_bytes(),
                            &proof
                        )
                        .is_err()
                    );
                }
            }
        }
    }
}
