//! The shard's memory cache of small hot files, with prebuilt response fields.
//!
//! The static handler looks a file up here before touching the filesystem. An entry holds
//! the file's bytes and its Content-Type … Accept-Ranges lines, so a hit costs a hash lookup
//! and no syscall. Entries are revalidated against the file (device, inode, size, mtime) at
//! most once a second; the cache is bounded in bytes and evicts the least recently used
//! entries first (an access counter per entry; eviction scans, which only happens on insert).

use std::rc::Rc;

use hashbrown::HashMap;

/// Identity and version of a file as `fstat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: i64,
}

impl FileStamp {
    pub fn of(meta: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_sec: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

/// A cached file ready to be answered from memory.
#[derive(Debug)]
pub struct Entry {
    pub stamp: FileStamp,
    pub content_type: String,
    pub etag: Option<String>,
    pub fields: Rc<[u8]>,
    pub body: Rc<[u8]>,
    /// Second of the last check against the filesystem.
    pub checked_at: i64,
    /// For a directory key: the index file this entry holds (the URI becomes `dir/index`).
    pub index: Option<Rc<str>>,
    last_used: u64,
}

impl Entry {
    pub fn new(
        stamp: FileStamp,
        content_type: String,
        etag: Option<String>,
        fields: Rc<[u8]>,
        body: Rc<[u8]>,
        checked_at: i64,
    ) -> Entry {
        Entry {
            stamp,
            content_type,
            etag,
            fields,
            body,
            checked_at,
            index: None,
            last_used: 0,
        }
    }

    fn cost(&self) -> u64 {
        (self.body.len() + self.fields.len() + 128) as u64
    }
}

/// Key: the root directory and the request's path below it.
pub type Key = Vec<u8>;

#[derive(Default)]
pub struct FileCache {
    entries: HashMap<Key, Entry>,
    bytes: u64,
    clock: u64,
}

impl FileCache {
    /// The entry for `key`, marking it used.
    pub fn get(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self.entries.get_mut(key)?;
        entry.last_used = clock;
        Some(entry)
    }

    pub fn remove(&mut self, key: &[u8]) {
        if let Some(e) = self.entries.remove(key) {
            self.bytes -= e.cost();
        }
    }

    /// Inserts an entry, evicting least recently used ones to stay within `limit` bytes.
    /// Entries larger than the whole limit are not cached.
    pub fn insert(&mut self, key: Key, mut entry: Entry, limit: u64) {
        self.remove(&key);
        let cost = entry.cost();
        if cost > limit {
            return;
        }
        while self.bytes + cost > limit {
            let Some(victim) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.remove(&victim);
        }
        self.clock += 1;
        entry.last_used = self.clock;
        self.bytes += cost;
        self.entries.insert(key, entry);
    }

    /// Drops every entry (their Content-Type and fields were built under settings a reload
    /// changed).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(size: usize) -> Entry {
        Entry::new(
            FileStamp {
                dev: 1,
                ino: 1,
                size: size as u64,
                mtime_sec: 0,
                mtime_nsec: 0,
            },
            "text/plain".into(),
            None,
            Rc::from(&b""[..]),
            Rc::from(vec![0u8; size]),
            0,
        )
    }

    #[test]
    fn bounded_and_lru() {
        let mut c = FileCache::default();
        let limit = 3 * (1000 + 128);
        c.insert(b"a".to_vec(), entry(1000), limit);
        c.insert(b"b".to_vec(), entry(1000), limit);
        c.insert(b"c".to_vec(), entry(1000), limit);
        assert!(c.get(b"a").is_some()); // a is now the most recent
        c.insert(b"d".to_vec(), entry(1000), limit);
        assert!(c.get(b"b").is_none(), "least recently used is evicted");
        assert!(c.get(b"a").is_some());
        assert!(c.bytes() <= limit);
        c.insert(b"huge".to_vec(), entry(10_000), limit);
        assert!(c.get(b"huge").is_none());
        assert_eq!(c.len(), 3);
    }
}
