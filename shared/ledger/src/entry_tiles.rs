//! Entry tiles (FORMAT.md §11.1): the entries of a chain in immutable runs of
//! [`ENTRY_TILE_WIDTH`], written once by the signer when a run is complete and served whole,
//! so that a monitor fetches a long chain in a few hundred answers instead of one stored item
//! per entry.
//!
//! Tile `i` holds entries `1024·i … 1024·i + 1023`, each exactly as hashed and ended by `\n`
//! (the export's bytes for that range), as one zstd frame (RFC 8878). A tile carries no
//! authority: the reader checks every entry in it as it checks any other (FORMAT.md §8) and
//! against the signed root. Only full tiles exist; the entries after the last one are read
//! page by page.

use std::io::Read;

use crate::entry::MAX_LINE_BYTES;

/// Entries in an entry tile.
pub const ENTRY_TILE_WIDTH: u64 = 1024;

/// The most a tile may hold once decompressed: a full width of the longest lines. A reader
/// stops there, so a hostile frame cannot make it allocate without bound.
pub const MAX_TILE_CONTENT: u64 = ENTRY_TILE_WIDTH * (MAX_LINE_BYTES as u64 + 1);

/// zstd level: on entry lines level 1 is both the fastest and (measured) the smallest.
const LEVEL: i32 = 1;

/// An entry tile could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TileDecodeError {
    #[error("the entry tile is not a zstd frame: {0}")]
    Frame(std::io::Error),
    #[error("the entry tile holds more than a full width of the longest lines once decompressed")]
    TooLarge,
}

/// Compress the lines of one full run (each ended by `\n`, i.e. the export's bytes).
pub fn encode(content: &[u8]) -> std::io::Result<Vec<u8>> {
    zstd::bulk::compress(content, LEVEL)
}

/// Decompress a tile into `out` (cleared first; pass a buffer back in to reuse it), refusing
/// more than [`MAX_TILE_CONTENT`] bytes.
pub fn decode_into(frame: &[u8], out: &mut Vec<u8>) -> Result<(), TileDecodeError> {
    decode_within(frame, MAX_TILE_CONTENT, out)
}

/// The largest zstd window a streamed frame may ask the reader to keep (2^23 = 8 MiB): the
/// signer's frames state their size and need none; a hostile frame cannot make the reader
/// allocate zstd's default maximum (128 MiB) for one.
const MAX_WINDOW_LOG: u32 = 23;

/// As [`decode_into`], refusing more than `limit` bytes of content ([`TileDecodeError::TooLarge`]):
/// a reader with a memory budget (`ledger sync`) reads a larger tile by page instead. The
/// memory used is `limit` plus at most an 8 MiB window, whatever the frame says.
pub fn decode_within(frame: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), TileDecodeError> {
    out.clear();
    // The frame states its size (the signer writes it): decompress in one step into exactly
    // that much room, if it is within the bound; a frame that lies about it fails.
    let stated = zstd::zstd_safe::get_frame_content_size(frame).ok().flatten();
    if let Some(size) = stated.filter(|n| *n <= limit)
        && let Ok(size) = usize::try_from(size)
    {
        out.reserve_exact(size);
        // One decompression context per thread, reused: making one per tile allocates (and
        // faults in) its ~100 KB workspace every time.
        thread_local! {
            static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
                const { std::cell::RefCell::new(None) };
        }
        DECOMPRESSOR
            .with_borrow_mut(|cached| {
                let decompressor = match cached {
                    Some(d) => d,
                    None => cached.insert(zstd::bulk::Decompressor::new()?),
                };
                decompressor.decompress_to_buffer(frame, out)
            })
            .map_err(TileDecodeError::Frame)?;
        return Ok(());
    }
    if stated.is_some() {
        return Err(TileDecodeError::TooLarge);
    }
    // No size stated: stream, and stop at the bound.
    let mut decoder = zstd::stream::read::Decoder::with_buffer(frame).map_err(TileDecodeError::Frame)?;
    decoder.window_log_max(MAX_WINDOW_LOG).map_err(TileDecodeError::Frame)?;
    decoder
        .take(limit + 1)
        .read_to_end(out)
        .map_err(TileDecodeError::Frame)?;
    if out.len() as u64 > limit {
        out.clear();
        return Err(TileDecodeError::TooLarge);
    }
    Ok(())
}

/// The entry tiles wholly inside entries `start … end − 1`.
pub fn full_tiles_within(start: u64, end: u64) -> std::ops::Range<u64> {
    start.div_ceil(ENTRY_TILE_WIDTH)..end / ENTRY_TILE_WIDTH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tile_round_trips_and_is_smaller() {
        let content: Vec<u8> = (0..ENTRY_TILE_WIDTH)
            .flat_map(|i| format!("{{\"seq\":{i},\"hash\":\"{:064x}\"}}\n", i * 7919).into_bytes())
            .collect();
        let frame = encode(&content).unwrap();
        assert!(frame.len() < content.len() / 2, "{} of {}", frame.len(), content.len());
        let mut out = b"left over from the last tile".to_vec();
        decode_into(&frame, &mut out).unwrap();
        assert_eq!(out, content);
    }

    #[test]
    fn bad_frames_are_refused() {
        let mut out = Vec::new();
        assert!(matches!(
            decode_into(b"not zstd", &mut out),
            Err(TileDecodeError::Frame(_))
        ));
        let frame = encode(b"a\nb\n").unwrap();
        assert!(matches!(
            decode_into(&frame[..frame.len() - 3], &mut out),
            Err(TileDecodeError::Frame(_))
        ));
    }

    #[test]
    fn a_frame_that_expands_past_the_bound_is_cut_off() {
        let zeros = vec![0u8; 1 << 20];
        let frame = encode(&zeros).unwrap();
        assert!(frame.len() < 1 << 10);
        let mut out = Vec::new();
        decode_within(&frame, 1 << 20, &mut out).unwrap();
        assert_eq!(out.len(), 1 << 20);
        assert!(matches!(
            decode_within(&frame, (1 << 20) - 1, &mut out),
            Err(TileDecodeError::TooLarge)
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn a_frame_without_its_size_is_streamed_within_the_bound() {
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        encoder.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut encoder, &[b'x'; 5000]).unwrap();
        let frame = encoder.finish().unwrap();
        assert_eq!(zstd::zstd_safe::get_frame_content_size(&frame).ok().flatten(), None);
        let mut out = Vec::new();
        decode_within(&frame, 5000, &mut out).unwrap();
        assert_eq!(out, vec![b'x'; 5000]);
        assert!(matches!(
            decode_within(&frame, 4999, &mut out),
            Err(TileDecodeError::TooLarge)
        ));
    }

    #[test]
    fn a_frame_that_asks_for_a_huge_window_is_refused_before_it_is_allocated() {
        // No size stated and a 128 MiB window: zstd would keep that much to decode it.
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        encoder.include_contentsize(false).unwrap();
        encoder.window_log(27).unwrap();
        std::io::Write::write_all(&mut encoder, &[b'z'; 1000]).unwrap();
        let frame = encoder.finish().unwrap();
        let mut out = Vec::new();
        assert!(matches!(
            decode_within(&frame, 1 << 20, &mut out),
            Err(TileDecodeError::Frame(_))
        ));
    }

    #[test]
    fn a_frame_that_understates_its_size_fails() {
        let mut frame = encode(&[b'y'; 4096]).unwrap();
        // RFC 8878 §3.1.1.1: after the magic number, a single-segment frame with a two-byte
        // content size field stores the size − 256.
        let descriptor = frame[4];
        assert_eq!((descriptor >> 6, descriptor & 0x20), (1, 0x20), "{descriptor:#x}");
        frame[5..7].copy_from_slice(&(4000u16 - 256).to_le_bytes());
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&frame).ok().flatten(),
            Some(4000)
        );
        let mut out = Vec::new();
        assert!(matches!(
            decode_within(&frame, 1 << 20, &mut out),
            Err(TileDecodeError::Frame(_))
        ));
        assert!(matches!(
            decode_within(&frame, 3999, &mut out),
            Err(TileDecodeError::TooLarge)
        ));
    }

    #[test]
    fn full_tiles_are_those_wholly_inside() {
        let w = ENTRY_TILE_WIDTH;
        assert_eq!(full_tiles_within(0, w - 1), 0..0);
        assert_eq!(full_tiles_within(0, w), 0..1);
        assert_eq!(full_tiles_within(1, 3 * w), 1..3);
        assert_eq!(full_tiles_within(w, 3 * w + 5), 1..3);
        assert_eq!(full_tiles_within(5 * w, 5 * w), 5..5);
    }
}
