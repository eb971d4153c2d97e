//! Tiles: how the log stores its Merkle tree so that any inclusion or consistency proof
//! costs O(log n) stored hashes (FORMAT.md §11; the layout of C2SP tlog-tiles).
//!
//! Tile `(L, i)` holds up to 256 hashes of tree level `8L`: for `L = 0` the leaf hashes
//! `256i … 256i+255`, for `L = 1` the roots of the full level-0 tiles, and so on. Any perfect
//! subtree of height `8L + k` (`k < 8`) is the root over `2^k` consecutive hashes of one tile
//! of level `L`. A tile is *full* at 256 hashes and never changes again; the tiles at the
//! right edge of the tree are partial and grow as the signer extends the tree.

use std::collections::{BTreeMap, BTreeSet};

use crate::hash::Hash;
use crate::merkle::{NodeSource, node_hash};

/// Tree levels per tile.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// Which tile: its level (in tiles, i.e. tree level `8·level`) and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId {
    pub level: u32,
    pub index: u64,
}

impl std::fmt::Display for TileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.level, self.index)
    }
}

/// A tile is missing, or too short for the node asked of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("tile {0} is missing")]
    Missing(TileId),
    #[error("tile {tile} holds {width} hashes, {needed} are needed")]
    TooShort { tile: TileId, width: usize, needed: usize },
    #[error("the tree of size {size} does not fit the tiles given (tile {tile} holds {width} hashes)")]
    Inconsistent { size: u64, tile: TileId, width: usize },
}

/// The root of a perfect subtree over `hashes` (a power of two of them).
fn perfect_root(hashes: &[Hash]) -> Hash {
    if hashes.len() <= 1 {
        return hashes.first().copied().unwrap_or(Hash::ZERO);
    }
    let half = hashes.len() / 2;
    node_hash(&perfect_root(&hashes[..half]), &perfect_root(&hashes[half..]))
}

/// The tile and the range within it that hold the perfect subtree `(level, index)`.
pub fn locate(level: u32, index: u64) -> (TileId, usize, usize) {
    let tile_level = level / TILE_HEIGHT;
    let k = level % TILE_HEIGHT;
    let first = index << k;
    let tile = TileId {
        level: tile_level,
        index: first >> TILE_HEIGHT,
    };
    let offset = (first & (TILE_WIDTH - 1)) as usize;
    (tile, offset, 1 << k)
}

/// A set of tiles, as read from storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tiles {
    pub tiles: BTreeMap<TileId, Vec<Hash>>,
}

impl Tiles {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, id: TileId, hashes: Vec<Hash>) {
        self.tiles.insert(id, hashes);
    }

    /// Append leaf hashes to a tree of `size` leaves whose right-edge tiles
    /// ([`right_edge`]) are in `self`; returns every tile that changed or appeared, with its
    /// new content (store them all: full ones never change again).
    pub fn extend(&self, size: u64, leaves: &[Hash]) -> Result<Tiles, TileError> {
        let mut changed = Tiles::new();
        for (id, width) in right_edge(size) {
            let have = self.tiles.get(&id).ok_or(TileError::Missing(id))?;
            if have.len() < width {
                return Err(TileError::Inconsistent {
                    size,
                    tile: id,
                    width: have.len(),
                });
            }
            changed.insert(id, have[..width].to_vec());
        }
        for (i, leaf) in leaves.iter().enumerate() {
            changed.push(0, size + i as u64, *leaf, size)?;
        }
        Ok(changed)
    }

    /// Put `hash` at position `position` of tree level `8·level`, completing parents.
    fn push(&mut self, level: u32, position: u64, hash: Hash, size: u64) -> Result<(), TileError> {
        let id = TileId {
            level,
            index: position >> TILE_HEIGHT,
        };
        let tile = self.tiles.entry(id).or_default();
        if tile.len() as u64 != position & (TILE_WIDTH - 1) {
            return Err(TileError::Inconsistent {
                size,
                tile: id,
                width: tile.len(),
            });
        }
        tile.push(hash);
        if tile.len() as u64 == TILE_WIDTH {
            let root = perfect_root(tile);
            self.push(level + 1, position >> TILE_HEIGHT, root, size)?;
        }
        Ok(())
    }
}

impl NodeSource for &Tiles {
    type Error = TileError;

    fn node(&mut self, level: u32, index: u64) -> Result<Hash, TileError> {
        let (tile, offset, count) = locate(level, index);
        let hashes = self.tiles.get(&tile).ok_or(TileError::Missing(tile))?;
        let slice = hashes.get(offset..offset + count).ok_or(TileError::TooShort {
            tile,
            width: hashes.len(),
            needed: offset + count,
        })?;
        Ok(perfect_root(slice))
    }
}

/// The partial tiles at the right edge of a tree of `size` leaves, with their widths: what
/// a writer must read before it extends the tree.
pub fn right_edge(size: u64) -> Vec<(TileId, usize)> {
    let mut out = Vec::new();
    let mut count = size;
    let mut level = 0;
    while count > 0 {
        let width = (count & (TILE_WIDTH - 1)) as usize;
        if width > 0 {
            out.push((
                TileId {
                    level,
                    index: count >> TILE_HEIGHT,
                },
                width,
            ));
        }
        count >>= TILE_HEIGHT;
        level += 1;
    }
    out
}

/// Records which nodes a proof asks for (answering with zeros): run a proof against it to
/// learn which tiles to fetch, then run it again against them.
#[derive(Debug, Default)]
pub struct Recorder {
    pub nodes: Vec<(u32, u64)>,
}

impl NodeSource for Recorder {
    type Error = std::convert::Infallible;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        self.nodes.push((level, index));
        Ok(Hash::ZERO)
    }
}

impl Recorder {
    /// The tiles the recorded nodes lie in.
    pub fn tiles(&self) -> BTreeSet<TileId> {
        self.nodes.iter().map(|&(l, i)| locate(l, i).0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{
        LeafIndex, TreeSize, consistency_proof, consistency_proof_from, inclusion_proof, inclusion_proof_from,
        leaf_hash, root_from, root_of,
    };

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// Grow tiles in uneven steps, as the signer does, reading back only the right edge.
    fn grow(all: &[Hash], steps: &[usize]) -> Tiles {
        let mut stored = Tiles::new();
        let mut size = 0u64;
        let mut step = steps.iter().cycle();
        while (size as usize) < all.len() {
            let n = (*step.next().unwrap()).min(all.len() - size as usize);
            let mut edge = Tiles::new();
            for (id, _) in right_edge(size) {
                edge.insert(id, stored.tiles[&id].clone());
            }
            let changed = edge.extend(size, &all[size as usize..size as usize + n]).unwrap();
            stored.tiles.extend(changed.tiles);
            size += n as u64;
        }
        stored
    }

    #[test]
    fn proofs_from_tiles_equal_proofs_from_leaves() {
        let all = leaves(70_000);
        let tiles = grow(&all, &[1, 255, 3, 700, 65_536, 2]);
        for size in [1u64, 2, 255, 256, 257, 511, 65_535, 65_536, 65_537, 70_000] {
            let tree = &all[..size as usize];
            assert_eq!(
                root_from(&mut &tiles, TreeSize(size)).unwrap(),
                root_of(tree),
                "root {size}"
            );
            for index in [0, size / 3, size - 1] {
                let from_tiles = inclusion_proof_from(&mut &tiles, LeafIndex(index), TreeSize(size)).unwrap();
                assert_eq!(
                    from_tiles,
                    inclusion_proof(tree, LeafIndex(index)).unwrap(),
                    "{index}/{size}"
                );
            }
            for first in [1, size / 2 + 1, size] {
                let from_tiles = consistency_proof_from(&mut &tiles, TreeSize(first), TreeSize(size)).unwrap();
                assert_eq!(
                    from_tiles,
                    consistency_proof(tree, TreeSize(first)).unwrap(),
                    "{first}->{size}"
                );
            }
        }
    }

    #[test]
    fn a_proof_needs_few_tiles() {
        let mut recorder = Recorder::default();
        consistency_proof_from(&mut recorder, TreeSize(41_234), TreeSize(99_999)).unwrap();
        assert!(recorder.tiles().len() <= 6, "{:?}", recorder.tiles());
    }

    #[test]
    fn extending_without_the_right_edge_fails() {
        let all = leaves(300);
        let tiles = grow(&all, &[300]);
        assert_eq!(
            right_edge(300),
            vec![(TileId { level: 0, index: 1 }, 44), (TileId { level: 1, index: 0 }, 1)]
        );
        assert!(matches!(
            Tiles::new().extend(300, &all[..1]),
            Err(TileError::Missing(_))
        ));
        let mut short = Tiles::new();
        short.insert(
            TileId { level: 0, index: 1 },
            tiles.tiles[&TileId { level: 0, index: 1 }][..10].to_vec(),
        );
        short.insert(
            TileId { level: 1, index: 0 },
            tiles.tiles[&TileId { level: 1, index: 0 }].clone(),
        );
        assert!(matches!(
            short.extend(300, &all[..1]),
            Err(TileError::Inconsistent { .. })
        ));
    }

    /// What the signer does before it asks its witnesses: read the right edge of the tree
    /// of `m` leaves, extend it by the new leaves to `n`, and prove consistency from `m` to
    /// `n` with the tiles at hand only (nothing read back).
    #[test]
    fn the_right_edge_extended_holds_the_new_root_and_every_node_of_the_consistency_proof_from_its_size() {
        let all = leaves(70_000);
        let pairs = [
            (1, 2),
            (3, 4),
            (255, 256),
            (256, 257),
            (256, 512),
            (300, 301),
            (511, 70_000),
            (65_535, 65_536),
            (65_536, 65_537),
            (65_537, 69_999),
            (12_345, 12_346),
            (41_234, 69_998),
        ];
        for (m, n) in pairs {
            let stored = grow(&all[..m], &[1, 255, 3, 700, 65_536, 2]);
            let mut at_hand = Tiles::new();
            for (id, _) in right_edge(m as u64) {
                at_hand.insert(id, stored.tiles[&id].clone());
            }
            let changed = at_hand.extend(m as u64, &all[m..n]).unwrap();
            at_hand.tiles.extend(changed.tiles);
            // The signer's check of what it read: the new tree's root from the tiles at hand.
            assert_eq!(
                root_from(&mut &at_hand, TreeSize(n as u64)).unwrap(),
                root_of(&all[..n]),
                "root {n}"
            );
            assert_eq!(
                consistency_proof_from(&mut &at_hand, TreeSize(m as u64), TreeSize(n as u64)).unwrap(),
                consistency_proof(&all[..n], TreeSize(m as u64)).unwrap(),
                "{m} -> {n}"
            );
        }
    }
}
