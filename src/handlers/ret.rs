//! Content handler `return`: a fixed status with a body text or a redirect URL (nginx's
//! `return code [text]` / `return code URL`).

use super::Response;
use crate::config::model::ReturnAction;
use crate::config::resolve::is_redirect;
use crate::http::response::Body;

pub fn respond(action: &ReturnAction, default_type: &str) -> Response {
    let mut resp = Response::new(action.status);
    match &action.text {
        Some(url) if is_redirect(action.status) => resp.add_field("Location", url),
        Some(text) => {
            resp.content_type = Some(default_type.to_string());
            resp.body = Body::Bytes(text.as_bytes().to_vec());
        }
        None => {}
    }
    resp
}
