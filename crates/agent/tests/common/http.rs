//! HTTP/1.1 over a unix socket for the admin API: the shared harness's client.
#[allow(unused_imports)] // each test binary uses its own part
pub use ssinet_lab::cluster::admin::{Answer, get_json, request};
