//! The request path, in one function: read [`run`] and you know what happens to a request.
//!
//! ```text
//! select server (listen + Host, server_name regexes) → normalise the URI
//!   → server-rewrite → find location → (internal? 404) → (body too large? 413)
//!   → rewrite → try_files → content (static, proxy plan, status pages)
//!   → error_page / built-in page for errors and bodiless redirects
//!   → filters (not-modified → range → headers) → absolute Location
//! ```
//!
//! Internal redirects (a rewritten URI, `error_page /x`, a try_files fallback URI, an index
//! file) go back to server-rewrite (named locations to rewrite), as nginx's phase engine
//! does; more than ten URI changes end in 500. `serve::h1` calls [`select_server`] (which
//! may refuse with 421 on a TLS connection) then [`run`] once per parsed request head, and
//! sends the response or runs the exchange the [`Outcome`] names; it keeps the request's
//! state for the access log. Nothing here does socket I/O.

use std::time::Instant;

use crate::config::model::{Config, Handler, Location, Pattern, PostAction, Server};
use crate::context::state::{Args, ConnInfo, Received, RequestState};
use crate::context::vars::Ctx;
use crate::files::docroot;
use crate::files::path;
use crate::filters::{self, FilterRequest};
use crate::handlers::proxy::{self, ProxyPlan};
use crate::handlers::static_files::{self, Content, IndexNames, StaticRequest, StaticState};
use crate::handlers::status;
use crate::http::accel;
use crate::http::request::{Method, RequestHead};
use crate::http::response::Response;
use crate::phases::access;
use crate::phases::error_page::{self, Special};
use crate::phases::rewrite::{self, Flow};
use crate::phases::try_files::{self, Tried};
use crate::route::{self, ConfigIndex, ListenerServers, ServerIndex};

/// One request as the pipeline sees it.
pub struct Request<'a> {
    pub head: &'a RequestHead,
    /// The buffer `head`'s positions refer to.
    pub buf: &'a [u8],
    pub listener: &'a ListenerServers,
    pub conn: &'a ConnInfo,
    /// When the head was complete.
    pub started: Instant,
    /// The declared body length (Content-Length), checked against the chosen location's
    /// `client_max_body_size` (413) once a location is chosen, as nginx does.
    pub declared_body: Option<u64>,
    /// Routing data derived from this configuration (per shard); `None` scans plainly.
    pub index: Option<&'a ConfigIndex>,
    /// The counters the status pages read (`None` answers them with 503).
    pub status: Option<status::Sources<'a>>,
}

impl Request<'_> {
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.head.field(self.buf, name)
    }
}

/// The server chosen for a request.
pub struct Selected<'c> {
    pub server: &'c Server,
    /// Position in `Config::servers`.
    pub position: usize,
    /// The `server_name ~regex` that chose it (its captures become variables).
    pub name_regex: Option<&'c Pattern>,
}

/// What the request path decided: what `serve/` does next, with the state the phases left
/// (the access log and a resumed request read it). Each kind of work is a variant, so a new
/// content source (FastCGI, gRPC, a cache fill) is a new variant the connection side must
/// handle, not a field it may forget to look at.
pub enum Outcome<'c> {
    /// A response made here (a file, a redirect, a status page, an error page): send it.
    Respond {
        response: Response,
        state: RequestState<'c>,
    },
    /// An exchange with an upstream, which `serve/` runs because it awaits.
    Exchange {
        exchange: Exchange<'c>,
        state: RequestState<'c>,
    },
}

impl<'c> Outcome<'c> {
    /// The phases' state, whatever comes next.
    pub fn state(&self) -> &RequestState<'c> {
        match self {
            Outcome::Respond { state, .. } | Outcome::Exchange { state, .. } => state,
        }
    }
}

/// An upstream exchange the pipeline planned and `serve/` runs. It comes back through
/// [`resume`] when it fails before a response was sent, or its answer goes to error_page
/// or `X-Accel-Redirect`.
pub enum Exchange<'c> {
    /// `proxy_pass`: the request relayed to an HTTP upstream.
    Proxy(Box<ProxyPlan<'c>>),
}

/// The TLS handshake a request arrived on (`None` on a plain connection). Its SNI chose a
/// server, whose certificate the client checked and whose client verification it passed;
/// every request on the connection is held to that choice, whatever protocol carries it.
#[derive(Clone, Copy)]
pub struct Handshake<'a> {
    pub listener: &'a crate::tls::TlsListener,
    pub sni: Option<&'a str>,
}

/// No server may answer: the Host selects a server the handshake was not made for
/// (421 Misdirected Request; the client retries on a connection of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Misdirected;

impl Misdirected {
    pub fn status(self) -> u16 {
        421
    }
}

/// The server block that answers `req` (its limits apply before the rest of the path runs),
/// or [`Misdirected`] when the connection's handshake rules the Host's server out
/// ([`crate::tls::host_allowed`]).
pub fn select_server<'c>(
    config: &'c Config,
    req: &Request,
    handshake: Option<Handshake>,
) -> Result<Selected<'c>, Misdirected> {
    let host = req.head.host.clone().map(|h| &req.buf[h]);
    if let Some(tls) = handshake {
        // The handshake's listener judges with the configuration the handshake was made
        // under: after a reload server positions may differ from `config`'s.
        if !tls.listener.host_allowed(tls.sni, host) {
            log::info!(
                "*{} request for another server than the TLS handshake's, client: {}",
                req.conn.serial,
                req.conn.peer
            );
            return Err(Misdirected);
        }
    }
    let (position, name_regex) = route::find_server(config, req.listener, host);
    Ok(Selected {
        server: &config.servers[position],
        position,
        name_regex,
    })
}

/// Runs the rest of the request path for one request on the server chosen above.
pub fn run<'c>(
    config: &'c Config,
    selected: &Selected<'c>,
    req: &Request,
    statics: &mut StaticState,
    now: i64,
) -> Outcome<'c> {
    let server = selected.server;
    let received = Received {
        head: req.head,
        buf: req.buf,
        conn: req.conn,
        started: req.started,
    };
    let raw_path = received.raw_path();
    let raw_path = if raw_path.is_empty() { b"/" } else { raw_path };
    // nginx parses the request line before the Host picks a server: the address's default
    // server decides `merge_slashes`.
    let merge_slashes = config
        .servers
        .get(req.listener.default)
        .map_or(server.http.merge_slashes, |s| s.http.merge_slashes);
    let normalized = path::normalize(raw_path, merge_slashes);
    let bad_path = normalized.is_err();
    let mut ctx = Ctx {
        config,
        server,
        req: received,
        // A path that climbs above the root is refused with an empty `$uri`, as nginx.
        st: RequestState::new(normalized.unwrap_or_default()),
    };
    // The server-rewrite phase runs with the server level's settings (add_header, expires…).
    ctx.st.location = Some(&server.fallback);
    if let (Some(pattern), Some(h)) = (selected.name_regex, req.head.host.clone()) {
        let host = crate::http::host::normalize_host(&req.buf[h]);
        ctx.st.match_bytes(pattern, &host);
    }
    let index = req.index.and_then(|i| i.servers.get(selected.position));
    let mut engine = Engine {
        req,
        index,
        statics,
        now,
        body_refused: false,
    };
    // A client certificate `ssl_verify_client` refuses: 400, through the filters, so
    // `add_header … always` still reports `$ssl_client_verify` (as in nginx).
    let cert_refused =
        crate::tls::info::refuses_request(server.tls.as_ref(), req.conn.tls.as_deref());
    let first = if bad_path || cert_refused {
        Step::Done(Response::new(400))
    } else if let Some(refusal) = req.head.refused {
        // A head nginx refuses once the server is chosen (bad Host, TRACE…): the server's
        // error_page answers; `serve::h1` closes the connection after it.
        Step::Done(Response::new(refusal.status()))
    } else {
        Step::Go(Next::ServerRewrite)
    };
    engine.finish(ctx, first)
}

/// How a request that left the phases comes back to them.
pub enum Resume<'c> {
    /// Its upstream exchange gave this instead of an answer to relay (502/504, or an
    /// upstream error that `proxy_intercept_errors` sends to error_page): error pages, then
    /// the filters, as for any response.
    Failed(Response),
    /// Its upstream answered with `X-Accel-Redirect` (nginx's
    /// `ngx_http_upstream_process_headers`): a URI is an internal redirect run as GET (HEAD
    /// stays HEAD), `@name` goes to that location, an unsafe URI is a 404; the answer
    /// keeps the carried fields. The redirect counts against the ten URI changes.
    Accel(accel::Target, accel::Carried),
    /// nginx's `post_action`, once the answer is sent: an internal redirect without args,
    /// or a named location, in a state of its own. The caller discards the response; an
    /// exchange still goes to its upstream.
    PostAction(&'c PostAction),
}

/// Runs the phases again for a request that left them; `state` is the one [`run`]
/// returned (unused for a post action). The outcome may be an exchange again (an error page
/// or a redirect served by a proxied location).
pub fn resume<'c>(
    config: &'c Config,
    selected: &Selected<'c>,
    req: &Request,
    statics: &mut StaticState,
    now: i64,
    state: RequestState<'c>,
    how: Resume<'c>,
) -> Outcome<'c> {
    let state = match how {
        Resume::PostAction(_) => RequestState::new(Vec::new()),
        _ => state,
    };
    let mut ctx = Ctx {
        config,
        server: selected.server,
        req: Received {
            head: req.head,
            buf: req.buf,
            conn: req.conn,
            started: req.started,
        },
        st: state,
    };
    let index = req.index.and_then(|i| i.servers.get(selected.position));
    let mut engine = Engine {
        req,
        index,
        statics,
        now,
        body_refused: true,
    };
    let first = match how {
        Resume::Failed(response) => Step::Done(response),
        Resume::Accel(target, carried) => accel_redirect(&mut ctx, target, carried),
        Resume::PostAction(PostAction::Uri(uri)) => {
            internal_redirect(&mut ctx, uri.clone(), Args::None)
        }
        Resume::PostAction(PostAction::Named(name)) => named(&mut ctx, name),
    };
    engine.finish(ctx, first)
}

/// The first step of [`Resume::Accel`].
fn accel_redirect<'c>(
    ctx: &mut Ctx<'_, 'c>,
    target: accel::Target,
    carried: accel::Carried,
) -> Step<'c> {
    ctx.st.carried_type = carried.content_type;
    ctx.st.carried_fields.extend_from_slice(&carried.fields);
    match target {
        accel::Target::Named(name) => named(ctx, &name),
        accel::Target::Uri { uri, args } => {
            ctx.st.as_get = true;
            internal_redirect(ctx, uri, Args::Owned(args))
        }
        accel::Target::Unsafe(value) => {
            let value = String::from_utf8_lossy(&value);
            ctx.log()
                .error(format_args!("unsafe URI \"{value}\" was detected"));
            Step::Done(Response::new(404))
        }
    }
}

/// True when the location in effect has an error page for `status` (an upstream answer
/// with that status is intercepted when `proxy_intercept_errors` is on).
pub fn has_error_page(state: &RequestState, server: &Server, status: u16) -> bool {
    let pages = state
        .location
        .map_or(&server.error_pages[..], |l| &l.error_pages[..]);
    !state.error_page_used && pages.iter().any(|p| p.codes.contains(&status))
}

/// Where the request goes next (nginx's phase engine, reduced to what anx runs).
enum Next<'c> {
    /// Server-level rewrite directives (first, and after each internal redirect).
    ServerRewrite,
    /// Location search for the current URI.
    Find,
    /// The rewrite directives of a location.
    Rewrite(&'c Location),
    /// `allow`/`deny` of the location the rewrite phase settled on.
    Access(&'c Location),
    /// try_files, then the content handler.
    Content(&'c Location),
}

/// A step either moves on or finishes with a response (or hands over to an upstream).
enum Step<'c> {
    Go(Next<'c>),
    Done(Response),
    Exchange(Exchange<'c>),
}

/// How the phase engine ended.
enum Ending<'c> {
    Respond(Response),
    Exchange(Exchange<'c>),
}

/// What a special response turns into.
enum AfterSpecial<'c> {
    /// A page to send as it is.
    Page(Response),
    /// Somewhere to go (an error page's redirect), or a new error on the way there.
    Then(Step<'c>),
}

/// nginx's phase engine for one request: what the phases need beyond the variables.
struct Engine<'p> {
    req: &'p Request<'p>,
    index: Option<&'p ServerIndex>,
    statics: &'p mut StaticState,
    now: i64,
    /// The 413 was given once; an error page for it may then run (nginx discards the body).
    body_refused: bool,
}

impl Engine<'_> {
    fn finish<'c>(&mut self, mut ctx: Ctx<'_, 'c>, first: Step<'c>) -> Outcome<'c> {
        match self.drive(&mut ctx, first) {
            Ending::Respond(response) => Outcome::Respond {
                response,
                state: ctx.st,
            },
            Ending::Exchange(exchange) => Outcome::Exchange {
                exchange,
                state: ctx.st,
            },
        }
    }

    /// Runs phases from `first` until a response is final.
    fn drive<'c>(&mut self, ctx: &mut Ctx<'_, 'c>, first: Step<'c>) -> Ending<'c> {
        let mut step = first;
        loop {
            let mut resp = match step {
                Step::Go(next) => {
                    step = self.phase(ctx, next);
                    continue;
                }
                Step::Exchange(exchange) => return Ending::Exchange(exchange),
                Step::Done(resp) => resp,
            };
            if !error_page::is_special(&resp) {
                apply_err_status(ctx, &mut resp);
                // A filter may still refuse (412, 416): then it is an error like any other.
                if !filters::apply(&mut resp, &self.filter_request(ctx), ctx) {
                    filters::location::apply(&mut resp, ctx);
                    resp.close |= ctx.st.close;
                    return Ending::Respond(resp);
                }
            }
            match self.special(ctx, resp) {
                AfterSpecial::Page(page) => return Ending::Respond(self.finish_page(ctx, page)),
                AfterSpecial::Then(next) => step = next,
            }
        }
    }

    fn phase<'c>(&mut self, ctx: &mut Ctx<'_, 'c>, next: Next<'c>) -> Step<'c> {
        match next {
            Next::ServerRewrite => match rewrite::run(ctx, &server(ctx).rewrite) {
                Flow::Respond(r) => Step::Done(r),
                Flow::Next | Flow::Last | Flow::Break => Step::Go(Next::Find),
            },
            Next::Find => self.find(ctx),
            Next::Rewrite(loc) => match rewrite::run(ctx, &loc.rewrite) {
                Flow::Respond(r) => Step::Done(r),
                Flow::Break => Step::Go(Next::Access(loc)),
                Flow::Next | Flow::Last if ctx.st.uri_changed => {
                    if !ctx.st.count_uri_change() {
                        return Step::Done(cycle(ctx, "while processing"));
                    }
                    Step::Go(Next::Find)
                }
                // An if-location whose condition held (`proxy_pass` inside `if`) answers.
                Flow::Next | Flow::Last => Step::Go(Next::Access(ctx.st.location.unwrap_or(loc))),
            },
            Next::Access(loc) => match access::check(ctx, loc) {
                Some(denied) => Step::Done(denied),
                None => Step::Go(Next::Content(loc)),
            },
            Next::Content(loc) => self.content(ctx, loc),
        }
    }

    /// nginx's find-config phase.
    fn find<'c>(&mut self, ctx: &mut Ctx<'_, 'c>) -> Step<'c> {
        ctx.st.uri_changed = false;
        ctx.st.valid_location = true;
        ctx.st.alias_takes_uri = false;
        // No location matches: nginx serves with the server level's own settings.
        let loc = match route::find_location(ctx.server, self.index, &mut ctx.st) {
            route::Found::Location(loc) => loc,
            route::Found::None => &ctx.server.fallback,
            route::Found::AutoRedirect(loc) => {
                ctx.st.location = Some(loc);
                return Step::Done(slash_redirect(ctx));
            }
        };
        // nginx's find-config phase moves a request whose method limit_except does not
        // list into the limit_except block.
        let loc = match &loc.limit_except {
            Some(le) if !le.allows(&ctx.req.buf[ctx.req.head.method_raw.clone()]) => &le.location,
            _ => loc,
        };
        ctx.st.location = Some(loc);
        if loc.internal && !ctx.st.internal {
            return Step::Done(Response::new(404));
        }
        let too_large = self
            .req
            .declared_body
            .is_some_and(|n| loc.client_max_body_size > 0 && n > loc.client_max_body_size);
        if too_large && !self.body_refused {
            self.body_refused = true;
            let declared = self.req.declared_body.unwrap_or(0);
            ctx.log().error(format_args!(
                "client intended to send too large body: {declared} bytes"
            ));
            return Step::Done(Response::new(413));
        }
        Step::Go(Next::Rewrite(loc))
    }

    /// try_files, then the location's content handler.
    fn content<'c>(&mut self, ctx: &mut Ctx<'_, 'c>, loc: &'c Location) -> Step<'c> {
        if ctx.st.handler_without_upstream {
            // nginx's level: a configuration that routes to a proxy it never set up.
            let alert = crate::config::model::ErrorLevel::Alert;
            ctx.log()
                .log(alert, format_args!("no upstream configuration"));
            return Step::Done(Response::new(500));
        }
        if let Some(tf) = &loc.try_files {
            match try_files::run(ctx, loc, tf, &mut self.statics.roots) {
                Tried::Found => {}
                Tried::Redirect { uri, args } => return internal_redirect(ctx, uri, args),
                Tried::Named(name) => return named(ctx, name),
                Tried::Status(code) => return Step::Done(Response::new(code)),
            }
        }
        match &loc.handler {
            Handler::Static => {}
            Handler::Status(page) => {
                let query = ctx.st.args(&ctx.req).unwrap_or_default();
                let method = self.req.head.method;
                return Step::Done(status::respond(
                    *page,
                    self.req.status,
                    ctx.config,
                    method,
                    query,
                ));
            }
            Handler::Proxy(p) => {
                let method = self.req.head.method;
                return match proxy::plan(ctx, loc, p, method) {
                    Ok(plan) => Step::Exchange(Exchange::Proxy(Box::new(plan))),
                    Err(e) => {
                        ctx.log().error(format_args!("{}", e.message));
                        Step::Done(Response::new(e.status))
                    }
                };
            }
        }
        match self.serve_static(ctx, loc, false) {
            Content::Response { response, index } => {
                if let Some(name) = index {
                    ctx.st.uri.extend_from_slice(name.as_bytes());
                }
                Step::Done(response)
            }
            Content::Index(uri) => self.index_file(ctx, loc, uri),
            Content::Redirect(uri) => {
                let args = ctx.st.args.clone();
                internal_redirect(ctx, uri, args)
            }
        }
    }

    /// nginx's index module redirects internally to `dir/index`. When that would come back
    /// to this location with nothing on the way (no rewrites, no try_files), the index is
    /// served here and cached under the directory: the same answer without a second pass.
    fn index_file<'c>(
        &mut self,
        ctx: &mut Ctx<'_, 'c>,
        loc: &'c Location,
        uri: Vec<u8>,
    ) -> Step<'c> {
        let old = std::mem::replace(&mut ctx.st.uri, uri);
        let same = ctx.server.rewrite.is_empty()
            && loc.rewrite.is_empty()
            && loc.try_files.is_none()
            && matches!(route::find_location(ctx.server, self.index, &mut ctx.st),
                route::Found::Location(l) if std::ptr::eq(l, loc));
        let uri = std::mem::replace(&mut ctx.st.uri, old);
        if !same {
            let args = ctx.st.args.clone();
            return internal_redirect(ctx, uri, args);
        }
        if !ctx.st.count_uri_change() {
            return Step::Done(cycle(ctx, "while internally redirecting to"));
        }
        match self.serve_static(ctx, loc, true) {
            Content::Response { response, .. } => {
                ctx.st.uri = uri;
                ctx.st.internal = true;
                Step::Done(response)
            }
            // The index vanished between the two looks: let the redirect find out.
            Content::Index(uri) | Content::Redirect(uri) => {
                let args = ctx.st.args.clone();
                internal_redirect(ctx, uri, args)
            }
        }
    }

    fn serve_static<'c>(
        &mut self,
        ctx: &mut Ctx<'_, 'c>,
        loc: &'c Location,
        inline_index: bool,
    ) -> Content {
        let mapped = docroot::map_current(ctx, loc);
        // Index names with variables are evaluated here, once per directory request.
        let evaluated: Vec<Vec<u8>> = if ctx.st.uri.ends_with(b"/")
            && loc.files.index.iter().any(|t| t.as_literal().is_none())
        {
            loc.files.index.iter().map(|t| ctx.eval_vec(t)).collect()
        } else {
            Vec::new()
        };
        let index = if evaluated.is_empty() {
            IndexNames::Fixed(&loc.files.index)
        } else {
            IndexNames::Evaluated(&evaluated)
        };
        let log = ctx.log();
        let head_method = self.req.head.method;
        let method = if ctx.st.as_get && head_method != Method::Head {
            Method::Get
        } else {
            head_method
        };
        let req = StaticRequest {
            method,
            path: &ctx.st.uri,
            query: ctx.st.args(&ctx.req),
            base: mapped.base,
            relative: mapped.relative(&ctx.st.uri),
            inline_index,
            generation: self.req.index.map_or(0, |i| i.generation),
            index,
            log: &log,
        };
        static_files::serve(&req, loc, &ctx.config.mime, self.statics, self.now)
    }

    /// An error or bodiless redirect: its error page (a page to send, or where to go).
    fn special<'c>(&mut self, ctx: &mut Ctx<'_, 'c>, resp: Response) -> AfterSpecial<'c> {
        match error_page::handle(ctx, resp) {
            Special::Page(page) => AfterSpecial::Page(page),
            Special::Redirect { uri, args } => {
                AfterSpecial::Then(internal_redirect(ctx, uri, args))
            }
            Special::Named(name) => AfterSpecial::Then(named(ctx, name)),
        }
    }

    /// A built-in page goes out through the headers filter and the Location step only.
    fn finish_page(&self, ctx: &mut Ctx, mut page: Response) -> Response {
        apply_err_status(ctx, &mut page);
        filters::headers(&mut page, ctx);
        filters::location::apply(&mut page, ctx);
        page.close |= ctx.st.close;
        page
    }

    fn filter_request<'a>(&self, ctx: &Ctx<'a, '_>) -> FilterRequest<'a> {
        let req = &ctx.req;
        FilterRequest {
            method: self.req.head.method,
            if_match: req.field("if-match"),
            if_none_match: req.field("if-none-match"),
            if_modified_since: req.field("if-modified-since"),
            if_unmodified_since: req.field("if-unmodified-since"),
            range: req.field("range"),
            if_range: req.field("if-range"),
            max_ranges: ctx.st.location.map_or(16, |l| l.files.max_ranges),
            modified_since_mode: ctx
                .st
                .location
                .map_or(Default::default(), |l| l.files.if_modified_since),
        }
    }
}

/// The server of `ctx`, borrowed from the configuration rather than from `ctx`.
fn server<'c>(ctx: &Ctx<'_, 'c>) -> &'c Server {
    ctx.server
}

/// An error page's status (`error_page 404 =200 …` or the original code) wins over what the
/// page's own handler answered, as nginx's `err_status`; the replaced response's Location
/// stays too.
fn apply_err_status(ctx: &mut Ctx, resp: &mut Response) {
    if resp.location.is_none() {
        resp.location = ctx.st.location_field.take();
    }
    if !ctx.st.carried_fields.is_empty() {
        let mut fields = std::mem::take(&mut ctx.st.carried_fields);
        fields.extend_from_slice(&resp.extra);
        resp.extra = fields;
    }
    if let Some(t) = ctx.st.carried_type.take() {
        if resp.content_type.is_some() {
            resp.content_type = Some(t);
            resp.uncache();
        }
    }
    // nginx's `allow_ranges` outlives an internal redirect.
    ctx.st.ranges_allowed |= resp.accept_ranges;
    resp.accept_ranges |= ctx.st.ranges_allowed && resp.status == 200;
    let status = ctx.st.err_status;
    if status == 0 || status == resp.status {
        return;
    }
    resp.status = status;
    if !matches!(status, 200 | 206 | 304) {
        // nginx's header filter drops Last-Modified on other statuses; the range filter
        // offers ranges on 200 only.
        resp.uncache();
        resp.last_modified = None;
        resp.accept_ranges = false;
    }
}

/// nginx's auto redirect ([`route::Found::AutoRedirect`]): 301 to the URI with a trailing
/// slash, keeping the args; the Location is made absolute by the filters as usual.
fn slash_redirect(ctx: &Ctx<'_, '_>) -> Response {
    let mut location = crate::files::path::encode_path(&ctx.st.uri).into_bytes();
    location.push(b'/');
    if let Some(args) = ctx.st.args(&ctx.req).filter(|a| !a.is_empty()) {
        location.push(b'?');
        location.extend_from_slice(args);
    }
    let mut r = Response::new(301);
    r.location = Some(location);
    r
}

/// nginx's `ngx_http_internal_redirect`: a new URI, a new search from server-rewrite.
fn internal_redirect<'c>(ctx: &mut Ctx<'_, 'c>, uri: Vec<u8>, args: Args) -> Step<'c> {
    ctx.st.uri = uri;
    if !ctx.st.count_uri_change() {
        return Step::Done(cycle(ctx, "while internally redirecting to"));
    }
    ctx.st.args = args;
    ctx.st.internal = true;
    ctx.st.location = Some(&ctx.server.fallback);
    Step::Go(Next::ServerRewrite)
}

/// nginx's `ngx_http_named_location`: straight to that location's rewrite phase.
fn named<'c>(ctx: &mut Ctx<'_, 'c>, name: &str) -> Step<'c> {
    if !ctx.st.count_uri_change() {
        ctx.log().error(format_args!(
            "rewrite or internal redirection cycle while redirect to named location \"@{name}\""
        ));
        return Step::Done(Response::new(500));
    }
    match route::named_location(ctx.server, name) {
        Some(loc) => {
            ctx.st.location = Some(loc);
            ctx.st.internal = true;
            Step::Go(Next::Rewrite(loc))
        }
        None => {
            ctx.log()
                .error(format_args!("could not find named location \"@{name}\""));
            Step::Done(Response::new(500))
        }
    }
}

/// The 500 for an eleventh URI change, with nginx's error-log line.
fn cycle(ctx: &Ctx, what: &str) -> Response {
    ctx.log().error(format_args!(
        "rewrite or internal redirection cycle {what} \"{}\"",
        String::from_utf8_lossy(&ctx.st.uri)
    ));
    Response::new(500)
}

/// Errors and redirects without a body get nginx's small HTML page (connection-level
/// refusals in `serve::h1`, which never reach a location).
pub fn with_error_page(response: &mut Response, server: &Server) {
    if error_page::is_special(response) {
        error_page::builtin(response, server.http.server_tokens);
    }
}

#[cfg(test)]
mod tests;
