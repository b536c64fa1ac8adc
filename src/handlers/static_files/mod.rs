//! Content handler `static`: a URI mapped to a file → the file, a directory listing, a
//! redirect, or (nginx's index module) an internal redirect to the directory's index file.
//!
//! The pipeline calls [`serve`] with the location that matched and the file the URI maps to
//! (`files::docroot`: a base directory and a path beneath it). Files come from the shard's
//! memory cache when small and hot ([`cache`]), otherwise they are opened beneath the base
//! ([`open`]) and handed to `serve/` as a file range for sendfile. Conditional and range
//! requests are the filters' business, not this module's: it only sets the validators.
//!
//! A directory URI with an index file is, in nginx, an internal redirect to `uri + index`
//! (a new location search). [`serve`] answers [`Content::Index`] for that; when the pipeline
//! sees the redirect would land in the same location with nothing to rewrite, it asks again
//! with `inline_index` and the index is served (and cached under the directory's key) here.

pub mod autoindex;
pub mod cache;

use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;

use crate::config::model::{AutoindexFormat, ErrorLevel, FileSettings, Location, Template};
use crate::http::mime::MimeTypes;
use crate::http::request::Method;
use crate::http::response::{cached_field_lines, Body, FileRange, Response};
use crate::log::scoped::RequestLog;
use std::path::Path;

use crate::files::open::{open_beneath, status_for_open_error, RootDirs};
use cache::{Entry, FileCache, FileStamp};

/// What a shard keeps for static files: root descriptors and the memory cache.
#[derive(Default)]
pub struct StaticState {
    pub roots: RootDirs,
    pub cache: FileCache,
}

/// The parts of a request the static handler reads.
pub struct StaticRequest<'a> {
    pub method: Method,
    /// The current URI (`$uri`): for the directory redirect and the MIME type.
    pub path: &'a [u8],
    /// The current args, kept on the directory redirect.
    pub query: Option<&'a [u8]>,
    /// The file: `relative` beneath the directory `base` (see `files::docroot`).
    pub base: &'a Path,
    pub relative: &'a [u8],
    /// Serve a directory's index file here rather than answering [`Content::Index`].
    pub inline_index: bool,
    /// The routing generation (`route::ConfigIndex::generation`; 0 without an index): an
    /// index served in place is cached for the directory only under the routing that
    /// allowed it (a reload may route it elsewhere).
    pub generation: u64,
    /// The location's `index` names, evaluated when they hold variables.
    pub index: IndexNames<'a>,
    /// Where this request's error-log lines go (missing files, refused opens).
    pub log: &'a RequestLog<'a>,
}

/// The `index` names of a request: the location's own when they have no variables (the
/// common case, no copy), else their values for this request.
#[derive(Clone, Copy)]
pub enum IndexNames<'a> {
    Fixed(&'a [Template]),
    Evaluated(&'a [Vec<u8>]),
}

impl<'a> IndexNames<'a> {
    fn len(&self) -> usize {
        match self {
            IndexNames::Fixed(t) => t.len(),
            IndexNames::Evaluated(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> &'a [u8] {
        match self {
            IndexNames::Fixed(t) => t
                .get(i)
                .and_then(Template::as_literal)
                .map_or(&[][..], str::as_bytes),
            IndexNames::Evaluated(v) => v.get(i).map_or(&[][..], Vec::as_slice),
        }
    }

    /// nginx's index module redirects to the first name starting with `/` that it reaches
    /// (for a missing directory, every name before it fails).
    fn first_absolute(&self) -> Option<&'a [u8]> {
        (0..self.len())
            .map(|i| self.get(i))
            .find(|n| n.starts_with(b"/"))
    }
}

/// What the static handler decided.
#[derive(Debug)]
pub enum Content {
    /// Answer with this. `index` names the index file served for a directory URI (the URI
    /// is then `uri + index`, as after nginx's index redirect).
    Response {
        response: Response,
        index: Option<Rc<str>>,
    },
    /// nginx's index module: redirect internally to this URI (the directory URI + index).
    Index(Vec<u8>),
    /// An index starting with `/`: an internal redirect to it, without a file test.
    Redirect(Vec<u8>),
}

impl From<Response> for Content {
    fn from(response: Response) -> Content {
        Content::Response {
            response,
            index: None,
        }
    }
}

/// Serves `req` from `loc`. Errors come back as bodiless responses; the pipeline adds pages.
pub fn serve(
    req: &StaticRequest,
    loc: &Location,
    mime: &MimeTypes,
    state: &mut StaticState,
    now: i64,
) -> Content {
    // nginx's static module lets POST look for the file (a missing one is 404, a directory
    // without its slash 301) and refuses it on the file itself; other methods at once.
    let post = req.method == Method::Post;
    if !matches!(req.method, Method::Get | Method::Head) && !post {
        return not_allowed().into();
    }
    let files = &loc.files;
    // A ".." left in the mapped path (an alias location without its trailing slash, a
    // variable's value) names nothing beneath the root: nginx's string join finds no such
    // file either (or, for the "off-by-slash" alias, a file anx will not serve).
    if crate::files::path::has_dotdot_segment(req.relative) {
        return Response::new(404).into();
    }
    if !files.allow_dotfiles
        && (crate::files::path::has_dot_segment(req.path)
            || crate::files::path::has_dot_segment(req.relative))
    {
        return Response::new(403).into();
    }
    let base = req.base;
    let relative = trim_leading_slashes(req.relative);

    let dir_uri = req.path.ends_with(b"/");
    // An index found through variables may differ next time: not cached under the directory.
    let cacheable = files.memory_cache_max_file > 0
        && !(dir_uri && matches!(req.index, IndexNames::Evaluated(_)));
    let key = cacheable.then(|| {
        let mut key = cache_key(base.as_os_str().as_bytes(), relative);
        if req.path.ends_with(b"/") {
            key.push(0);
            key.extend_from_slice(&req.generation.to_ne_bytes());
        }
        key
    });
    if let Some(key) = key.as_ref().filter(|_| !post) {
        if let Some(hit) = from_cache(state, key, now) {
            return hit;
        }
    }

    // An alias may name the file itself (`location /x { alias /srv/file; }`): then the
    // file is opened beneath its directory.
    let names_file = relative.is_empty()
        && matches!(state.roots.get(base), Err(e) if e.raw_os_error() == Some(libc::ENOTDIR));
    let (base, relative) = match (names_file, base.parent(), base.file_name()) {
        (true, Some(dir), Some(name)) => (dir, name.as_bytes()),
        _ => (base, relative),
    };
    let root = match state.roots.get(base) {
        Ok(fd) => fd,
        Err(e) => {
            if dir_uri {
                if let Some(uri) = req.index.first_absolute() {
                    return Content::Redirect(uri.to_vec());
                }
            }
            return open_failed(req, files, &base.to_string_lossy(), &e, dir_uri).into();
        }
    };
    let confine = !files.allow_symlinks_outside_root;
    let file = match open_beneath(root, relative, confine) {
        Ok(f) => f,
        Err(e) => {
            if dir_uri {
                if let Some(uri) = req.index.first_absolute() {
                    return Content::Redirect(uri.to_vec());
                }
            }
            let shown = full_path(base, relative);
            return open_failed(req, files, &shown, &e, dir_uri).into();
        }
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(_) => return Response::new(500).into(),
    };

    if meta.is_dir() {
        if !req.path.ends_with(b"/") {
            return redirect_to_slash(req).into();
        }
        for i in 0..req.index.len() {
            let index = req.index.get(i);
            if index.starts_with(b"/") {
                return Content::Redirect(index.to_vec());
            }
            if index.is_empty() {
                continue;
            }
            let mut candidate = relative.to_vec();
            if !candidate.is_empty() && !candidate.ends_with(b"/") {
                candidate.push(b'/');
            }
            candidate.extend_from_slice(index);
            match open_beneath(root, &candidate, confine) {
                Ok(f) => match f.metadata() {
                    Ok(m) if m.is_file() => {
                        if post && req.inline_index {
                            return not_allowed().into();
                        }
                        if !req.inline_index {
                            let mut uri = req.path.to_vec();
                            uri.extend_from_slice(index);
                            return Content::Index(uri);
                        }
                        let name: Rc<str> = Rc::from(String::from_utf8_lossy(index));
                        let response = file_response(
                            f,
                            &m,
                            index,
                            files,
                            mime,
                            state,
                            key,
                            now,
                            Some(name.clone()),
                        );
                        return Content::Response {
                            response,
                            index: Some(name),
                        };
                    }
                    _ => continue,
                },
                Err(e) if status_for_open_error(&e) == 404 => continue,
                Err(e) => {
                    let status = status_for_open_error(&e);
                    let shown = full_path(base, &candidate);
                    let os = crate::log::os_error(&e);
                    match status {
                        403 => req
                            .log
                            .error(format_args!("\"{shown}\" is forbidden ({os})")),
                        _ => req.log.log(
                            ErrorLevel::Crit,
                            format_args!("open() \"{shown}\" failed ({os})"),
                        ),
                    }
                    return Response::new(status).into();
                }
            }
        }
        return match files.autoindex {
            // nginx's autoindex answers GET and HEAD only; a POST finds nothing to serve.
            Some(format) if !post => listing(base, relative, req, format, files),
            _ => Response::new(403),
        }
        .into();
    }
    if !meta.is_file() {
        return Response::new(403).into();
    }
    if post {
        return not_allowed().into();
    }
    file_response(file, &meta, req.path, files, mime, state, key, now, None).into()
}

/// The file a request mapped to, as nginx's lines name it.
fn full_path(base: &Path, relative: &[u8]) -> String {
    let mut shown = base.to_string_lossy().into_owned();
    if !shown.ends_with('/') && !relative.is_empty() {
        shown.push('/');
    }
    shown.push_str(&String::from_utf8_lossy(relative));
    shown
}

/// The status for a file (or directory) that could not be opened, with nginx's line: a
/// missing one is logged at `error` when `log_not_found` is on (the index module's "is not
/// found" for a directory URI, the static module's "open() failed" for a file), a refused
/// one always, anything else at `crit`.
fn open_failed(
    req: &StaticRequest,
    files: &FileSettings,
    shown: &str,
    e: &std::io::Error,
    dir_uri: bool,
) -> Response {
    let status = status_for_open_error(e);
    let os = crate::log::os_error(e);
    match status {
        404 if !files.log_not_found => {}
        404 if dir_uri => {
            // nginx's index module names the first index file it looked for.
            let dir = shown.strip_suffix('/').unwrap_or(shown);
            let first = (0..req.index.len())
                .map(|i| req.index.get(i))
                .find(|n| !n.is_empty());
            let name = String::from_utf8_lossy(first.unwrap_or_default());
            req.log
                .error(format_args!("\"{dir}/{name}\" is not found ({os})"));
        }
        404 | 403 => req
            .log
            .error(format_args!("open() \"{shown}\" failed ({os})")),
        _ => req.log.log(
            ErrorLevel::Crit,
            format_args!("open() \"{shown}\" failed ({os})"),
        ),
    }
    Response::new(status)
}

/// 405 with the methods a static location takes.
fn not_allowed() -> Response {
    let mut r = Response::new(405);
    r.add_field("Allow", "GET, HEAD");
    r
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
fn from_cache(state: &mut StaticState, key: &[u8], now: i64) -> Option<Content> {
    let entry = state.cache.get(key)?;
    if entry.checked_at != now {
        return None;
    }
    Some(Content::Response {
        response: cached_response(entry),
        index: entry.index.clone(),
    })
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
    index: Option<Rc<str>>,
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
        .then(|| crate::http::validators::etag(stamp.mtime_sec, stamp.size));

    if let Some(key) = key.filter(|_| stamp.size <= files.memory_cache_max_file) {
        let mut bytes = Vec::with_capacity(stamp.size as usize);
        if file.read_to_end(&mut bytes).is_ok() && bytes.len() as u64 == stamp.size {
            let fields: Rc<[u8]> = Rc::from(cached_field_lines(
                &content_type,
                stamp.size,
                Some(stamp.mtime_sec),
                etag.as_deref(),
            ));
            let mut entry = Entry::new(stamp, content_type, etag, fields, Rc::from(bytes), now);
            entry.index = index;
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

/// 301 to the same path with a trailing slash, keeping the args (nginx does the same). The
/// Location is relative; `filters::location` makes it absolute as nginx's header filter does.
fn redirect_to_slash(req: &StaticRequest) -> Response {
    let mut location = crate::files::path::encode_path(req.path).into_bytes();
    location.push(b'/');
    if let Some(q) = req.query.filter(|q| !q.is_empty()) {
        location.push(b'?');
        location.extend_from_slice(q);
    }
    let mut r = Response::new(301);
    r.location = Some(location);
    r
}

fn listing(
    base: &std::path::Path,
    relative: &[u8],
    req: &StaticRequest,
    format: AutoindexFormat,
    files: &FileSettings,
) -> Response {
    let uri_path = req.path;
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
        AutoindexFormat::Xml => {
            r.content_type = Some("text/xml; charset=utf-8".to_string());
            r.body = Body::Bytes(autoindex::render_xml(&mut entries).into_bytes());
        }
        AutoindexFormat::Jsonp => {
            let callback = req
                .query
                .and_then(|q| crate::context::vars::arg(q, "callback"))
                .unwrap_or_default();
            // As nginx: a callback that would need escaping is refused, never echoed.
            if !callback
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"_.$".contains(&b))
            {
                return Response::new(400);
            }
            let json = autoindex::render_json(&mut entries);
            let body = if callback.is_empty() {
                json
            } else {
                format!("{}({json});\r\n", String::from_utf8_lossy(callback))
            };
            r.content_type = Some("application/javascript".to_string());
            r.body = Body::Bytes(body.into_bytes());
        }
    }
    r
}
