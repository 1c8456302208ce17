//! Tests on eight bytes at once ("SIMD within a register"), for the
//! writers that scan every string of every case for the few bytes they
//! escape: a word with none of them is copied without a look at each byte.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The first eight bytes of `b` at `i` as one word, if there are eight.
pub(crate) fn word_at(b: &[u8], i: usize) -> Option<u64> {
    let chunk = b.get(i..i + 8)?;
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    Some(u64::from_le_bytes(word))
}

/// Whether a byte of `w` is below `n` (`n` at most 0x80).
pub(crate) fn has_below(w: u64, n: u8) -> bool {
    w.wrapping_sub(LO * u64::from(n)) & !w & HI != 0
}

/// Whether a byte of `w` has its high bit set (not ASCII).
pub(crate) fn has_high(w: u64) -> bool {
    w & HI != 0
}

/// Whether a byte of `w` equals `b`.
pub(crate) fn has_byte(w: u64, b: u8) -> bool {
    let x = w ^ (LO * u64::from(b));
    x.wrapping_sub(LO) & !x & HI != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_test_agrees_with_a_byte_by_byte_look() {
        // Every byte value at every position of a word of otherwise 'a's
        // and of otherwise 0x7f / 0x00 bytes.
        for fill in [b'a', 0x7f, 0x00, 0xff] {
            for pos in 0..8 {
                for v in 0..=255u8 {
                    let mut bytes = [fill; 8];
                    bytes[pos] = v;
                    let w = word_at(&bytes, 0).unwrap();
                    for n in [0x20u8, 0x21, 0x80] {
                        assert_eq!(has_below(w, n), bytes.iter().any(|&b| b < n));
                    }
                    assert_eq!(has_high(w), bytes.iter().any(|&b| b >= 0x80));
                    for b in [b'"', b'\\', b'<', b'&', 0x7f, 0x00] {
                        assert_eq!(has_byte(w, b), bytes.contains(&b), "{bytes:?} {b}");
                    }
                }
            }
        }
        assert_eq!(word_at(b"1234567", 0), None);
        assert_eq!(
            word_at(b"123456789", 1),
            Some(u64::from_le_bytes(*b"23456789"))
        );
    }
}
