//! Reading an export (JSON Lines) in large chunks with a bound on each line, so memory stays
//! flat in the size of the export and a single huge line is refused while it is read.

use std::io::Read;

use crate::entry::MAX_LINE_BYTES;

/// How much of the export is read at a time.
pub const CHUNK_BYTES: usize = 4 << 20;

/// A problem with the bytes before any line is parsed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Line `line` has no newline within [`MAX_LINE_BYTES`].
    #[error("line {line} is longer than 1 MiB")]
    TooLong { line: u64 },
    /// The export does not end with a newline.
    #[error("line {line} has no newline at its end")]
    Unterminated { line: u64 },
}

/// Complete lines (each ended by `\n`), chunk by chunk.
pub struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out (consumed at the next call).
    handed: usize,
    /// The number of the first line of the next chunk (1-based).
    next_line: u64,
    /// Bytes handed out so far.
    pub bytes: u64,
    eof: bool,
}

impl<R> std::fmt::Debug for LineReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LineReader(line {}, {} bytes)", self.next_line, self.bytes)
    }
}

/// One chunk: whole lines, without their newlines, and the number of the first.
#[derive(Debug)]
pub struct Chunk<'a> {
    pub first_line: u64,
    pub lines: Vec<&'a [u8]>,
}

impl<R: Read> LineReader<R> {
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            handed: 0,
            next_line: 1,
            bytes: 0,
            eof: false,
        }
    }

    /// The next chunk of complete lines, or `None` at the end of the export.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk<'_>>, ReadError> {
        self.buf.drain(..self.handed);
        self.handed = 0;
        // Fill up to a chunk; a line may need up to MAX_LINE_BYTES more.
        let mut target = CHUNK_BYTES;
        loop {
            if !self.eof && self.buf.len() < target {
                // Reads into the vector's spare capacity: no zero-filling of the chunk.
                let want = target - self.buf.len();
                let n = (&mut self.reader).take(want as u64).read_to_end(&mut self.buf)?;
                if n < want {
                    self.eof = true;
                }
            }
            if self.buf.is_empty() {
                return Ok(None);
            }
            match memchr::memrchr(b'\n', &self.buf) {
                Some(last) => {
                    self.handed = last + 1;
                    break;
                }
                None if self.eof => return Err(ReadError::Unterminated { line: self.next_line }),
                None if self.buf.len() > MAX_LINE_BYTES => {
                    return Err(ReadError::TooLong { line: self.next_line });
                }
                None => target = self.buf.len() + MAX_LINE_BYTES + 1,
            }
        }
        let lines = split_lines(&self.buf[..self.handed], self.next_line)?;
        let first_line = self.next_line;
        self.next_line += lines.len() as u64;
        self.bytes += self.handed as u64;
        Ok(Some(Chunk { first_line, lines }))
    }
}

/// The lines of `bytes` held in memory (a page or an entry tile), without their newlines and
/// without copying, under the same rules as [`LineReader`]: each ends with `\n` and is at most
/// [`MAX_LINE_BYTES`] long. `first_line` numbers the first in errors.
pub fn split_lines(bytes: &[u8], first_line: u64) -> Result<Vec<&[u8]>, ReadError> {
    let mut lines = Vec::with_capacity(bytes.len() / 512 + 1);
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', bytes) {
        if end - start > MAX_LINE_BYTES {
            return Err(ReadError::TooLong {
                line: first_line + lines.len() as u64,
            });
        }
        lines.push(&bytes[start..end]);
        start = end + 1;
    }
    let line = first_line + lines.len() as u64;
    if bytes.len() - start > MAX_LINE_BYTES {
        return Err(ReadError::TooLong { line });
    }
    if start < bytes.len() {
        return Err(ReadError::Unterminated { line });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], capacity: usize) -> Result<Vec<(u64, Vec<u8>)>, ReadError> {
        let mut reader = LineReader::new(std::io::BufReader::with_capacity(capacity, input));
        let mut out = Vec::new();
        while let Some(chunk) = reader.next_chunk()? {
            for (i, line) in chunk.lines.iter().enumerate() {
                out.push((chunk.first_line + i as u64, line.to_vec()));
            }
        }
        Ok(out)
    }

    #[test]
    fn lines_come_whole_and_numbered() {
        let got = all(b"a\nbb\n\nccc\n", 2).unwrap();
        assert_eq!(
            got,
            vec![
                (1, b"a".to_vec()),
                (2, b"bb".to_vec()),
                (3, Vec::new()),
                (4, b"ccc".to_vec())
            ]
        );
        assert!(all(b"", 8).unwrap().is_empty());
    }

    #[test]
    fn a_missing_final_newline_and_an_overlong_line_are_refused() {
        assert!(matches!(all(b"a\nb", 8), Err(ReadError::Unterminated { line: 2 })));
        let mut long = b"ok\n".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        long.push(b'\n');
        assert!(matches!(all(&long, 1 << 16), Err(ReadError::TooLong { line: 2 })));
    }

    #[test]
    fn lines_in_memory_follow_the_same_rules() {
        assert_eq!(split_lines(b"a\nbb\n\n", 1).unwrap(), vec![&b"a"[..], b"bb", b""]);
        assert!(split_lines(b"", 1).unwrap().is_empty());
        assert!(matches!(
            split_lines(b"a\nb", 7),
            Err(ReadError::Unterminated { line: 8 })
        ));
        let mut long = b"ok\n".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 1));
        assert!(matches!(split_lines(&long, 1), Err(ReadError::TooLong { line: 2 })));
        long.push(b'\n');
        assert!(matches!(split_lines(&long, 1), Err(ReadError::TooLong { line: 2 })));
        long.truncate(3 + MAX_LINE_BYTES);
        long.push(b'\n');
        assert_eq!(split_lines(&long, 1).unwrap().len(), 2);
    }
}
