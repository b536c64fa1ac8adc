//! `split_clients` variables: the key template hashed with nginx's MurmurHash2 and the hash
//! placed in the configured percentage buckets, so a given key always lands in the same
//! bucket, and in the one nginx would pick.
//!
//! [`super::vars`] calls [`value`] for `Var::Split`; the result is kept for the request.

use super::state::MapSlot;
use super::vars::{Ctx, Scope};

/// Appends the value of split_clients `index` for this request.
pub fn value(ctx: &mut Ctx, index: usize, out: &mut Vec<u8>, scope: Scope) {
    let config = ctx.config;
    let Some(split) = config.split_clients.get(index) else {
        return;
    };
    if ctx.st.splits.len() < config.split_clients.len() {
        ctx.st
            .splits
            .resize(config.split_clients.len(), MapSlot::Unset);
    }
    match &ctx.st.splits[index] {
        MapSlot::Done(v) => {
            out.extend_from_slice(v);
            return;
        }
        MapSlot::Busy => {
            log::error!("cycle while evaluating variable \"{}\"", split.name);
            return;
        }
        MapSlot::Unset => {}
    }
    ctx.st.splits[index] = MapSlot::Busy;
    let mut key = Vec::new();
    ctx.eval_in(&split.source, &mut key, scope);
    let v = split.pick(murmur2(&key)).unwrap_or("").as_bytes();
    out.extend_from_slice(v);
    ctx.st.splits[index] = MapSlot::Done(v.to_vec());
}

/// MurmurHash2 (Austin Appleby's 32-bit hash) seeded with the length, as nginx's
/// `ngx_murmur_hash2`: the buckets must match nginx's for the same keys.
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    // nginx seeds with the length truncated to 32 bits.
    let mut h: u32 = data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        if rest.len() >= 3 {
            h ^= u32::from(rest[2]) << 16;
        }
        if rest.len() >= 2 {
            h ^= u32::from(rest[1]) << 8;
        }
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::murmur2;

    #[test]
    fn murmur2_known_values() {
        // Values of nginx's ngx_murmur_hash2 (seed = length).
        assert_eq!(murmur2(b""), 0);
        // Stable across the remainder lengths 0..3: different inputs, different hashes.
        let hs: Vec<u32> = ["a", "ab", "abc", "abcd", "abcde"]
            .iter()
            .map(|s| murmur2(s.as_bytes()))
            .collect();
        for (i, a) in hs.iter().enumerate() {
            for b in &hs[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
