//! `$request_id`: 32 hex digits, random per request, drawn when a request first reads it.
//!
//! Each shard (thread) runs its own xoshiro256++ generator seeded from the kernel
//! (`getrandom`) and the clock, so drawing an id is a few arithmetic operations and never
//! a syscall or a lock. The ids are unique in practice, not secret (nginx's are the same).

use std::cell::Cell;

thread_local! {
    static STATE: Cell<[u64; 4]> = const { Cell::new([0; 4]) };
}

fn seed() -> [u64; 4] {
    let mut bytes = [0u8; 32];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the buffer we pass.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut s = [0u64; 4];
    for (i, word) in s.iter_mut().enumerate() {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        *word = u64::from_le_bytes(chunk);
    }
    if n < 32 {
        // No kernel randomness: the clock and the thread's stack address still differ
        // between shards and runs.
        let addr = &s as *const _ as u64;
        s[0] ^= clock;
        s[1] ^= addr.rotate_left(17);
    }
    s[2] ^= clock.rotate_left(32);
    if s == [0; 4] {
        s[0] = 0x9E37_79B9_7F4A_7C15;
    }
    s
}

fn next(s: &mut [u64; 4]) -> u64 {
    let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
    let t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3].rotate_left(45);
    result
}

/// A fresh id: 128 random bits as 32 lowercase hex digits.
pub fn draw() -> [u8; 32] {
    STATE.with(|cell| {
        let mut s = cell.get();
        if s == [0; 4] {
            s = seed();
        }
        let (a, b) = (next(&mut s), next(&mut s));
        cell.set(s);
        let mut out = [0u8; 32];
        for (i, byte) in a
            .to_be_bytes()
            .iter()
            .chain(b.to_be_bytes().iter())
            .enumerate()
        {
            out[2 * i] = HEX[usize::from(byte >> 4)];
            out[2 * i + 1] = HEX[usize::from(byte & 0xf)];
        }
        out
    })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_hex_and_differ() {
        let a = super::draw();
        let b = super::draw();
        assert_ne!(a, b);
        assert!(a
            .iter()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}
