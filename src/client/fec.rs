//! Reed–Solomon erasure coding of splitfile segments (`docs/protocol.md`
//! §12.3).
//!
//! A segment's `k` data pieces, each zero-padded to [`PIECE_SIZE`] bytes,
//! give `m` check pieces of the same size; any `k` of the `k + m` rebuild
//! the data. The code is the systematic Vandermonde code over GF(2^8)
//! (field polynomial `x^8 + x^4 + x^3 + x^2 + 1`, 0x11d) of the
//! `reed-solomon-erasure` crate: the `(k + m) × k` Vandermonde matrix
//! `V[r][c] = r^c`, times the inverse of its top `k × k` square, so that the
//! top `k` rows are the identity and row `k + i` gives check piece `i`.

use reed_solomon_erasure::galois_8::ReedSolomon;

use crate::block::BLOCK_CAPACITY;

/// Bytes of every piece the code works on: a data block's capacity.
pub const PIECE_SIZE: usize = BLOCK_CAPACITY;

/// The most data blocks in one segment.
pub const MAX_SEGMENT_DATA: usize = 128;

/// The most check blocks in one segment.
pub const MAX_SEGMENT_CHECKS: usize = 128;

/// The most redundancy, in percent: as many check blocks as data blocks.
pub const MAX_REDUNDANCY: u8 = 100;

/// The redundancy a put uses unless told otherwise: 100%, as Freenet's
/// fred (segments of 128 data and 128 check blocks).
pub const DEFAULT_REDUNDANCY: u8 = 100;

/// How many check blocks a segment of `k` data blocks has at `redundancy`
/// percent: `ceil(k · redundancy / 100)`.
pub const fn check_blocks(k: usize, redundancy: u8) -> usize {
    (k * redundancy as usize).div_ceil(100)
}

/// Why the erasure code failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum FecError {
    /// Fewer than `k` pieces present.
    #[error("{present} of the {needed} pieces needed are present")]
    TooFew {
        /// Pieces given.
        present: usize,
        /// Pieces needed.
        needed: usize,
    },
    /// A segment shape the code does not have (no data, too many pieces)
    /// or pieces of the wrong size.
    #[error("bad segment shape: {0}")]
    Shape(String),
}

fn codec(k: usize, m: usize) -> Result<ReedSolomon, FecError> {
    if k == 0 || k > MAX_SEGMENT_DATA || m == 0 || m > MAX_SEGMENT_CHECKS {
        return Err(FecError::Shape(format!("{k} data and {m} check pieces")));
    }
    ReedSolomon::new(k, m).map_err(|e| FecError::Shape(format!("{e:?}")))
}

/// The `m` check pieces of the data pieces `data` (each [`PIECE_SIZE`]
/// bytes). `m = 0` gives none.
pub fn encode(data: &[&[u8]], m: usize) -> Result<Vec<Vec<u8>>, FecError> {
    if m == 0 {
        return Ok(Vec::new());
    }
    if data.iter().any(|d| d.len() != PIECE_SIZE) {
        return Err(FecError::Shape(
            "a data piece is not PIECE_SIZE bytes".into(),
        ));
    }
    let rs = codec(data.len(), m)?;
    let mut checks = vec![vec![0u8; PIECE_SIZE]; m];
    rs.encode_sep(data, &mut checks)
        .map_err(|e| FecError::Shape(format!("{e:?}")))?;
    Ok(checks)
}

/// Rebuilds the missing data pieces of a segment in place: `pieces` holds
/// the `k` data pieces then the `m` check pieces, `None` where missing,
/// each present one [`PIECE_SIZE`] bytes. At least `k` must be present.
/// Check pieces are not rebuilt.
pub fn rebuild(pieces: &mut [Option<Vec<u8>>], k: usize) -> Result<(), FecError> {
    let present = pieces.iter().filter(|p| p.is_some()).count();
    if present < k {
        return Err(FecError::TooFew { present, needed: k });
    }
    if pieces[..k].iter().all(Option::is_some) {
        return Ok(());
    }
    if pieces.iter().flatten().any(|p| p.len() != PIECE_SIZE) {
        return Err(FecError::Shape("a piece is not PIECE_SIZE bytes".into()));
    }
    let rs = codec(k, pieces.len() - k)?;
    rs.reconstruct_data(pieces)
        .map_err(|e| FecError::Shape(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(seed: u8) -> Vec<u8> {
        (0..PIECE_SIZE)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn check_counts() {
        assert_eq!(check_blocks(128, 100), 128);
        assert_eq!(check_blocks(65, 50), 33);
        assert_eq!(check_blocks(3, 0), 0);
        assert_eq!(check_blocks(1, 1), 1);
    }

    #[test]
    fn any_k_of_n_rebuild_the_data() {
        let data: Vec<Vec<u8>> = (0..5).map(piece).collect();
        let refs: Vec<&[u8]> = data.iter().map(|d| &d[..]).collect();
        let checks = encode(&refs, 3).unwrap();
        assert_eq!(checks.len(), 3);
        let all: Vec<Vec<u8>> = data.iter().chain(&checks).cloned().collect();
        // Every way of losing 3 of the 8.
        for a in 0..8 {
            for b in a + 1..8 {
                for c in b + 1..8 {
                    let mut pieces: Vec<Option<Vec<u8>>> = all.iter().cloned().map(Some).collect();
                    for i in [a, b, c] {
                        pieces[i] = None;
                    }
                    rebuild(&mut pieces, 5).unwrap();
                    for i in 0..5 {
                        assert_eq!(pieces[i].as_deref(), Some(&data[i][..]), "lost {a} {b} {c}");
                    }
                }
            }
        }
        // Four lost is too many.
        let mut pieces: Vec<Option<Vec<u8>>> = all.iter().cloned().map(Some).collect();
        for p in &mut pieces[..4] {
            *p = None;
        }
        assert_eq!(
            rebuild(&mut pieces, 5),
            Err(FecError::TooFew {
                present: 4,
                needed: 5
            })
        );
    }

    #[test]
    fn bad_shapes_are_errors() {
        let data = [piece(1)];
        assert!(encode(&[&data[0][..10]], 1).is_err());
        let many: Vec<Vec<u8>> = (0..129).map(|i| piece(i as u8)).collect();
        let refs: Vec<&[u8]> = many.iter().map(|d| &d[..]).collect();
        assert!(encode(&refs, 1).is_err());
        assert!(encode(&refs[..2], 129).is_err());
        let mut pieces = vec![None, Some(vec![0u8; 3]), Some(piece(2))];
        assert!(rebuild(&mut pieces, 2).is_err());
    }
}
