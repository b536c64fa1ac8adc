//! Connection buffers, pooled per shard so that idle connections hold none.
//!
//! A kept-alive connection that waits for its next request owns no read or write buffer:
//! it takes one from the shard's pool when bytes arrive and gives it back when it goes idle
//! again. This is how anx stays under 1 KiB of user-space memory per idle connection (nginx
//! frees its request buffers the same way).

use std::cell::RefCell;

/// Size of a pooled buffer; heads larger than this grow the buffer up to the configured limit.
pub const CHUNK: usize = 16 * 1024;
/// Buffers kept in a shard's pool at most (the rest are freed).
const POOL_MAX: usize = 1024;

#[derive(Default)]
pub struct BufferPool {
    /// Buffers handed back at full length (read buffers): ready to read into.
    full: RefCell<Vec<Vec<u8>>>,
    /// Buffers handed back cleared (write buffers): ready to append to.
    empty: RefCell<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// A zero-filled buffer of at least `CHUNK` bytes (`len() == capacity` for reading into).
    pub fn take(&self) -> Vec<u8> {
        if let Some(b) = self.full.borrow_mut().pop() {
            return b;
        }
        // Kept apart so that a buffer is zeroed only when it changes from writing to
        // reading: zeroing on every return cost a third of a proxied request's CPU.
        match self.empty.borrow_mut().pop() {
            Some(mut b) => {
                b.resize(b.capacity(), 0);
                b
            }
            None => vec![0; CHUNK],
        }
    }

    /// An empty buffer for writing (its length is 0; capacity is kept).
    pub fn take_empty(&self) -> Vec<u8> {
        if let Some(b) = self.empty.borrow_mut().pop() {
            return b;
        }
        match self.full.borrow_mut().pop() {
            Some(mut b) => {
                b.clear();
                b
            }
            None => Vec::with_capacity(CHUNK),
        }
    }

    /// Returns a buffer. Oversized ones (grown for a large head) are freed instead.
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() < CHUNK || buf.capacity() > 4 * CHUNK {
            return;
        }
        let list = if buf.len() == buf.capacity() {
            &self.full
        } else {
            buf.clear();
            &self.empty
        };
        let mut list = list.borrow_mut();
        if list.len() < POOL_MAX {
            list.push(buf);
        }
    }
}

/// Bytes read from a connection and not yet consumed: `data[start..end]`.
#[derive(Default)]
pub struct ReadBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn has_buffer(&self) -> bool {
        !self.data.is_empty()
    }

    /// Drops `n` consumed bytes from the front.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Uses `buf` (from the pool, `len() == capacity`) as the storage, with `filled` bytes.
    pub fn adopt(&mut self, buf: Vec<u8>, filled: usize) {
        self.data = buf;
        self.start = 0;
        self.end = filled.min(self.data.len());
    }

    /// Room to read into: compacts, or grows up to `limit` bytes of storage. Empty when the
    /// buffer is full and at its limit (the caller's head is too large).
    pub fn spare(&mut self, pool: &BufferPool, limit: usize) -> &mut [u8] {
        if self.data.is_empty() {
            self.data = pool.take();
        }
        if self.end == self.data.len() && self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.data.len() && self.data.len() < limit {
            let new_len = (self.data.len() * 2).min(limit.max(CHUNK));
            self.data.resize(new_len, 0);
        }
        &mut self.data[self.end..]
    }

    /// Marks `n` bytes of the spare area as filled.
    pub fn filled_more(&mut self, n: usize) {
        self.end = (self.end + n).min(self.data.len());
    }

    /// Gives the storage back to the pool when nothing is pending.
    pub fn release_if_empty(&mut self, pool: &BufferPool) {
        if self.is_empty() && !self.data.is_empty() {
            pool.give(std::mem::take(&mut self.data));
            self.start = 0;
            self.end = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_consume_compact_grow() {
        let pool = BufferPool::default();
        let mut rb = ReadBuf::default();
        let spare = rb.spare(&pool, 4 * CHUNK);
        assert_eq!(spare.len(), CHUNK);
        spare[..3].copy_from_slice(b"abc");
        rb.filled_more(3);
        assert_eq!(rb.filled(), b"abc");
        rb.consume(1);
        assert_eq!(rb.filled(), b"bc");
        rb.filled_more(CHUNK); // fill to the end
        let spare = rb.spare(&pool, 4 * CHUNK);
        assert!(!spare.is_empty(), "compacted or grown");
        rb.consume(usize::MAX);
        assert!(rb.is_empty());
        rb.release_if_empty(&pool);
        assert!(!rb.has_buffer());
    }

    #[test]
    fn limit_stops_growth() {
        let pool = BufferPool::default();
        let mut rb = ReadBuf::default();
        let n = rb.spare(&pool, CHUNK).len();
        rb.filled_more(n);
        assert!(rb.spare(&pool, CHUNK).is_empty());
    }
}
