//! Content handler `static`: a normalised URI path → a file, a directory listing or a redirect.
//!
//! The pipeline calls [`serve`] with the location that matched. Files come from the shard's
//! memory cache when small and hot ([`cache`]), otherwise they are opened beneath the root
//! ([`open`]) and handed to `serve/` as a file range for sendfile. Conditional and range
//! requests are the filters' business, not this module's: it only sets the validators.

pub mod autoindex;
pub mod cache;
pub mod open;
pub mod path;

use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;

use crate::config::model::{AutoindexFormat, FileSettings, Location};
use crate::filters::not_modified;
use crate::http::mime::MimeTypes;
use crate::http::request::Method;
use crate::http::response::{cached_field_lines, Body, FileRange, Response};

use cache::{Entry, FileCache, FileStamp};
use open::{open_beneath, status_for_open_error, RootDirs};

/// What a shard keeps for static files: root descriptors and the memory cache.
#[derive(Default)]
pub struct StaticState {
    pub roots: RootDirs,
    pub cache: FileCache,
}

/// The parts of a request the static handler reads.
pub struct StaticRequest<'a> {
    pub method: Method,
    /// Normalised path (see [`path::normalize`]).
    pub path: &'a [u8],
    pub query: Option<&'a [u8]>,
    /// Host header, for absolute redirects.
    pub host: Option<&'a [u8]>,
}

/// Serves `req` from `loc`. Errors come back as bodiless responses; the pipeline adds pages.
pub fn serve(
    req: &StaticRequest,
    loc: &Location,
    mime: &MimeTypes,
    state: &mut StaticState,
    now: i64,
) -> Response {
    if !matches!(req.method, Method::Get | Method::Head) {
        let mut r = Response::new(405);
        r.add_field("Allow", "GET, HEAD");
        return r;
    }
    let files = &loc.files;
    if !files.allow_dotfiles && path::has_dot_segment(req.path) {
        return Response::new(403);
    }
    let (base, relative) = match &files.alias {
        Some(alias) => (
            alias.as_path(),
            req.path.get(loc.path.len()..).unwrap_or_default(),
        ),
        None => (files.root.as_path(), req.path),
    };
    let relative = trim_leading_slashes(relative);

    let cacheable = files.memory_cache_max_file > 0;
    let key = cacheable.then(|| cache_key(base.as_os_str().as_bytes(), relative));
    if let Some(key) = &key {
        if let Some(resp) = from_cache(state, key, now) {
            return resp;
        }
    }

    let root = match state.roots.get(base) {
        Ok(fd) => fd,
        Err(e) => {
            log::error!("cannot open root {}: {e}", base.display());
            return Response::new(status_for_open_error(&e));
        }
    };
    let confine = !files.allow_symlinks_outside_root;
    let file = match open_beneath(root, relative, confine) {
        Ok(f) => f,
        Err(e) => return Response::new(status_for_open_error(&e)),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(_) => return Response::new(500),
    };

    if meta.is_dir() {
        if !req.path.ends_with(b"/") {
            return redirect_to_slash(req);
        }
        for index in &files.index {
            let mut candidate = relative.to_vec();
            candidate.extend_from_slice(index.as_bytes());
            match open_beneath(root, &candidate, confine) {
                Ok(f) => match f.metadata() {
                    Ok(m) if m.is_file() => {
                        return file_response(f, &m, index.as_bytes(), files, mime, state, key, now)
                    }
                    _ => continue,
                },
                Err(e) if status_for_open_error(&e) == 404 => continue,
                Err(e) => return Response::new(status_for_open_error(&e)),
            }
        }
        return match files.autoindex {
            Some(format) => listing(base, relative, req.path, format, files),
            None => Response::new(403),
        };
    }
    if !meta.is_file() {
        return Response::new(403);
    }
    file_response(file, &meta, req.path, files, mime, state, key, now)
}

fn trim_leading_slashes(p: &[u8]) -> &[u8] {
    let n = p.iter().take_while(|&&b| b == b'/').count();
    &p[n..]
}

fn cache_key(base: &[u8], relative: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(base.len() + relative.len() + 1);
    key.extend_from_slice(base);
    key.push(0);
    key.extend_from_slice(relative);
    key
}

/// A fresh cache hit. Entries not checked this second are left for the slow path, which
/// revalidates them (and keeps the bytes if the file did not change).
fn from_cache(state: &mut StaticState, key: &[u8], now: i64) -> Option<Response> {
    let entry = state.cache.get(key)?;
    if entry.checked_at != now {
        return None;
    }
    Some(cached_response(entry))
}

fn cached_response(entry: &Entry) -> Response {
    Response {
        status: 200,
        content_type: Some(entry.content_type.clone()),
        last_modified: Some(entry.stamp.mtime_sec),
        etag: entry.etag.clone(),
        cached_fields: Some(entry.fields.clone()),
        body: Body::Shared {
            bytes: entry.body.clone(),
            start: 0,
            end: entry.body.len(),
        },
        accept_ranges: true,
        ..Response::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn file_response(
    mut file: File,
    meta: &std::fs::Metadata,
    name_for_type: &[u8],
    files: &FileSettings,
    mime: &MimeTypes,
    state: &mut StaticState,
    key: Option<Vec<u8>>,
    now: i64,
) -> Response {
    let stamp = FileStamp::of(meta);
    if let Some(key) = &key {
        if let Some(entry) = state.cache.get(key) {
            if entry.stamp == stamp {
                entry.checked_at = now;
                return cached_response(entry);
            }
            state.cache.remove(key);
        }
    }
    let content_type = mime
        .lookup(name_for_type)
        .unwrap_or(&files.default_type)
        .to_string();
    let etag = files
        .etag
        .then(|| not_modified::etag(stamp.mtime_sec, stamp.size));

    if let Some(key) = key.filter(|_| stamp.size <= files.memory_cache_max_file) {
        let mut bytes = Vec::with_capacity(stamp.size as usize);
        if file.read_to_end(&mut bytes).is_ok() && bytes.len() as u64 == stamp.size {
            let fields: Rc<[u8]> = Rc::from(cached_field_lines(
                &content_type,
                stamp.size,
                Some(stamp.mtime_sec),
                etag.as_deref(),
            ));
            let entry = Entry::new(stamp, content_type, etag, fields, Rc::from(bytes), now);
            let resp = cached_response(&entry);
            state.cache.insert(key, entry, files.memory_cache_bytes);
            return resp;
        }
        // The file changed while we read it: serve it from the descriptor instead.
    }

    Response {
        status: 200,
        content_type: Some(content_type),
        last_modified: Some(stamp.mtime_sec),
        etag,
        body: Body::File(FileRange {
            file: Rc::new(file),
            offset: 0,
            len: stamp.size,
        }),
        accept_ranges: true,
        ..Response::default()
    }
}

/// 301 to the same path with a trailing slash, keeping the query (nginx does the same).
fn redirect_to_slash(req: &StaticRequest) -> Response {
    let mut location = String::new();
    if let Some(host) = req.host.and_then(|h| std::str::from_utf8(h).ok()) {
        location.push_str("http://");
        location.push_str(host);
    }
    location.push_str(&path::encode_path(req.path));
    location.push('/');
    if let Some(q) = req.query {
        location.push('?');
        location.push_str(&String::from_utf8_lossy(q));
    }
    let mut r = Response::new(301);
    r.add_field("Location", &location);
    r
}

fn listing(
    base: &std::path::Path,
    relative: &[u8],
    uri_path: &[u8],
    format: AutoindexFormat,
    files: &FileSettings,
) -> Response {
    let dir = base.join(std::ffi::OsStr::from_bytes(relative));
    let read = match std::fs::read_dir(&dir) {
        Ok(r) => r,
        Err(e) => return Response::new(status_for_open_error(&e)),
    };
    let mut entries = Vec::new();
    for item in read.flatten() {
        let name = item.file_name().as_bytes().to_vec();
        if !files.allow_dotfiles && name.first() == Some(&b'.') {
            continue;
        }
        let Ok(meta) = std::fs::metadata(item.path()).or_else(|_| item.metadata()) else {
            continue;
        };
        use std::os::unix::fs::MetadataExt;
        entries.push(autoindex::DirEntry {
            name,
            is_dir: meta.is_dir(),
            size: meta.size(),
            mtime_secs: meta.mtime(),
        });
    }
    let mut r = Response::new(200);
    let uri = String::from_utf8_lossy(uri_path);
    match format {
        AutoindexFormat::Html => {
            r.content_type = Some("text/html".to_string());
            r.body = Body::Bytes(autoindex::render_html(&uri, &mut entries).into_bytes());
        }
        AutoindexFormat::Json => {
            r.content_type = Some("application/json".to_string());
            r.body = Body::Bytes(autoindex::render_json(&mut entries).into_bytes());
        }
    }
    r
}
